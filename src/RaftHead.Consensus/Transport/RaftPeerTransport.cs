using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.Threading.Channels;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using RaftHead.Consensus.Core;
using RaftHead.Protocol.Client;
using RaftHead.Protocol.V1;

namespace RaftHead.Consensus.Transport;

/// <summary>
/// The sending half of the peer transport: for each peer a bounded queue, its own channel, and one long-lived
/// client stream of <c>rafthead.v1.Raft/Stream</c>, opened when the peer is set (see
/// <see cref="RaftTransportOptions.OpenStreamsEagerly"/>), over which messages are pipelined in order, everything queued
/// at once written as one frame (one write, one flush; see <see cref="RaftMessageCodec"/>). <see cref="Send"/> never blocks;
/// a full queue drops. A broken stream is re-opened with jittered exponential backoff, and what was queued while
/// it was down is dropped (stale by then; Raft re-sends from its own state on the next heartbeat).
/// The receiving half is <see cref="RaftTransportService"/>. <see cref="DisposeAsync"/> is quiet and bounded by
/// <see cref="RaftTransportOptions.ShutdownTimeoutMs"/>: streams ending because we or the peer stop are expected.
/// </summary>
public sealed class RaftPeerTransport : IRaftTransport, IAsyncDisposable
{
    private readonly long _localId;
    private readonly RaftTransportOptions _options;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<long, Peer> _peers = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Random _random;
    private readonly Lock _randomLock = new();
    private int _disposed;

    /// <param name="random">Draws the reconnect jitter (a simulation shares its seeded one); by default seeded from <see cref="RaftTransportOptions.RandomSeed"/>.</param>
    public RaftPeerTransport(long localId, RaftTransportOptions? options = null, ILogger? logger = null, Random? random = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(localId);
        _localId = localId;
        _options = options ?? new RaftTransportOptions();
        _options.Validate();
        _logger = logger ?? NullLogger.Instance;
        _random = random ?? (_options.RandomSeed is { } seed ? new Random(seed) : new Random());
    }

    /// <summary>Adds a peer (or moves it to a new address: <c>host:port</c> or a URI, see <see cref="GrpcChannels.ParseEndpoint"/>) and starts its stream.</summary>
    public void SetPeer(long nodeId, string address)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (nodeId <= 0 || nodeId == _localId) throw new ArgumentOutOfRangeException(nameof(nodeId));
        ArgumentException.ThrowIfNullOrWhiteSpace(address);
        if (_peers.TryGetValue(nodeId, out var existing) && existing.Address == address) return;
        var peer = new Peer(this, nodeId, address);
        if (_peers.TryGetValue(nodeId, out var old))
        {
            _peers[nodeId] = peer;
            old.BeginStop();
            peer.Start(old.StopTask);
        }
        else
        {
            _peers[nodeId] = peer;
            peer.Start(Task.CompletedTask);
        }
    }

    /// <summary>Stops the stream to a removed peer.</summary>
    public async Task RemovePeerAsync(long nodeId, CancellationToken cancellationToken)
    {
        if (_peers.TryRemove(nodeId, out var peer))
        {
            peer.BeginStop();
            await peer.StopTask.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public bool Send(Message message)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (!_peers.TryGetValue(message.To, out var peer))
        {
            _logger.LogDebug("Raft node {NodeId} has no address for node {PeerId}; dropped {MessageType}", _localId, message.To, message.Type);
            return false;
        }
        return peer.Enqueue(message);
    }

    public string? AddressOf(long nodeId) => _peers.TryGetValue(nodeId, out var peer) ? peer.Address : null;

    public IReadOnlyList<PeerStats> Stats() => _peers.Values.Select(p => p.Stats()).OrderBy(s => s.PeerId).ToList();

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await _stop.CancelAsync().ConfigureAwait(false);
        var peers = _peers.Values.ToList();
        _peers.Clear();
        foreach (var peer in peers) peer.BeginStop();
        // A peer's task never faults (it logs what it did not expect), so this only waits.
        var stopped = Task.WhenAll(peers.Select(p => p.StopTask));
        try
        {
            await stopped.WaitAsync(TimeSpan.FromMilliseconds(_options.ShutdownTimeoutMs), _options.TimeProvider).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            _logger.LogWarning("Raft node {NodeId}: {Open} peer stream(s) still closing after {ShutdownTimeoutMs} ms; abandoned", _localId, peers.Count(p => !p.StopTask.IsCompleted), _options.ShutdownTimeoutMs);
            // The abandoned tasks still hold tokens linked to _stop, so it stays undisposed.
            return;
        }
        _stop.Dispose();
    }

    private double NextJitter()
    {
        lock (_randomLock)
        {
            return _random.NextDouble();
        }
    }

    /// <summary>
    /// Moves queued messages into <paramref name="batch"/> while their size bound stays within
    /// <paramref name="frameBytesMax"/> (the first is always taken, however large). False when nothing was queued.
    /// </summary>
    private static bool TakeBatch(ChannelReader<Message> reader, List<Message> batch, long frameBytesMax)
    {
        long bytes = 0;
        while (batch.Count < RaftMessageCodec.MaxBatchMessages && reader.TryPeek(out var next))
        {
            var size = RaftMessageCodec.SizeBound(next);
            if (batch.Count > 0 && bytes + size > frameBytesMax) break;
            reader.TryRead(out _);
            batch.Add(next);
            bytes += size;
        }
        return batch.Count > 0;
    }

    /// <summary>How a stream ends when we stop: our own cancellation, or the peer going away at the same time.</summary>
    private static bool IsExpectedWhenStopping(Exception e) =>
        e is OperationCanceledException or RpcException { StatusCode: StatusCode.Cancelled or StatusCode.Unavailable };

    /// <summary>One peer: its queue, its channel and the task that owns its stream.</summary>
    private sealed class Peer
    {
        private const int FrameBufferKeptBytes = 1024 * 1024;

        private readonly RaftPeerTransport _owner;
        private readonly Channel<Message> _queue;
        private readonly CancellationTokenSource _stop;
        private readonly Uri _endpoint;
        private readonly GrpcChannelSettings _channelSettings;
        private readonly Lock _connectGate = new();
        private Task _run = Task.CompletedTask;
        private long _sent;
        private long _frames;
        private long _dropped;
        private long _opened;
        private long _failures;
        private volatile bool _connected;

        public Peer(RaftPeerTransport owner, long id, string address)
        {
            var endpoint = GrpcChannels.ParseEndpoint(address);
            _owner = owner;
            Id = id;
            Address = address;
            _queue = Channel.CreateBounded<Message>(new BoundedChannelOptions(owner._options.QueueCapacity)
            {
                SingleReader = true,
                FullMode = BoundedChannelFullMode.Wait, // TryWrite then reports a full queue, which we count as a drop
            });
            _endpoint = endpoint;
            _channelSettings = new GrpcChannelSettings
            {
                RetryAttemptsMax = 1,
                ConnectTimeoutMs = owner._options.ConnectTimeoutMs,
                MaxReceiveMessageBytes = owner._options.MaxReceiveMessageBytes,
            };
            _stop = CancellationTokenSource.CreateLinkedTokenSource(owner._stop.Token);
        }

        public long Id { get; }

        public string Address { get; }

        /// <summary>Completes when the peer's task has ended and its resources are released.</summary>
        public Task StopTask => _run;

        // Off the caller's thread: an eager stream dials at once, and a new process's first channel and call cost
        // hundreds of ms of JIT that would otherwise hold up the host's start (SetPeer runs before its server is up).
        public void Start(Task predecessor) => _run = Task.Run(() => RunAsync(predecessor));

        public void BeginStop()
        {
            _queue.Writer.TryComplete();
            try
            {
                _stop.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // The peer's task already ended (the transport is stopping) and released its token.
            }
        }

        public bool Enqueue(Message message)
        {
            if (_queue.Writer.TryWrite(message)) return true;
            Interlocked.Increment(ref _dropped);
            return false;
        }

        public PeerStats Stats() => new(Id, Address, Interlocked.Read(ref _sent), Interlocked.Read(ref _frames), Interlocked.Read(ref _dropped), Interlocked.Read(ref _opened), Interlocked.Read(ref _failures), _connected);

        private async Task RunAsync(Task predecessor)
        {
            // A peer that moved address replaces its old stream only once the old one is gone.
            await predecessor.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            var token = _stop.Token;
            var logger = _owner._logger;
            var options = _owner._options;
            var attempt = 0;
            try
            {
                while (!token.IsCancellationRequested)
                {
                    // Eagerly: open (and re-open) the stream before Raft needs the peer, so the connection and a new
                    // process's first-call costs are not paid by a vote or the first acknowledgement after a restart.
                    // Lazily: only when there is something to send.
                    if (options.OpenStreamsEagerly ? _queue.Reader.Completion.IsCompleted : !await _queue.Reader.WaitToReadAsync(token).ConfigureAwait(false)) return;
                    var wasConnected = false;
                    var queuedBefore = _queue.Reader.Count;
                    try
                    {
                        await RunStreamAsync(() => wasConnected = true, token).ConfigureAwait(false);
                    }
                    catch (Exception e) when (!token.IsCancellationRequested)
                    {
                        Interlocked.Increment(ref _failures);
                        if (wasConnected)
                        {
                            logger.LogWarning("Raft node {NodeId}: stream to node {PeerId} at {Address} broke: {Reason}", _owner._localId, Id, Address, e.Message);
                        }
                        else if (attempt == 0)
                        {
                            // A peer not up yet (an eager stream at start) or gone: not news until it stays away.
                            logger.LogInformation("Raft node {NodeId}: cannot reach node {PeerId} at {Address}: {Reason}", _owner._localId, Id, Address, e.Message);
                        }
                        else
                        {
                            logger.LogDebug("Raft node {NodeId}: stream to node {PeerId} at {Address} failed again: {Reason}", _owner._localId, Id, Address, e.Message);
                        }
                    }
                    _connected = false;
                    if (wasConnected) attempt = 0;
                    // Stale: everything queued behind a stream that broke, or that waited out a failed attempt. What was
                    // queued during a failed attempt is as fresh as the next one and goes over it.
                    var stale = 0;
                    var toDrop = wasConnected ? int.MaxValue : queuedBefore;
                    while (stale < toDrop && _queue.Reader.TryRead(out _)) stale++;
                    Interlocked.Add(ref _dropped, stale);
                    await Task.Delay(Backoff(attempt++, options), options.TimeProvider, token).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (token.IsCancellationRequested && IsExpectedWhenStopping(e))
            {
            }
            catch (Exception e)
            {
                // Not rethrown: nobody awaits this task before shutdown, and shutdown must stay quiet.
                logger.LogError(e, "Raft node {NodeId}: the stream loop to node {PeerId} at {Address} failed; no more messages go to it", _owner._localId, Id, Address);
            }
            finally
            {
                _connected = false;
                _stop.Dispose();
            }
        }

        private async Task RunStreamAsync(Action onConnected, CancellationToken cancellationToken)
        {
            using var streamStop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var headers = new Metadata
            {
                { RaftHeaders.From, _owner._localId.ToString(CultureInfo.InvariantCulture) },
                { RaftHeaders.To, Id.ToString(CultureInfo.InvariantCulture) },
            };
            // A channel per stream, owned, not shared: the connection lives and dies with the stream, which the channel
            // never retries (what was queued is stale by the time a retry could run). A channel that failed to connect
            // waits out its own backoff (a second or more) before it dials again, which kept a leader from a restarted
            // follower long after it was up; a new channel dials at once, so this loop's backoff is the only one.
            using var channel = GrpcChannels.Create(_endpoint, _channelSettings);
            var client = new Raft.RaftClient(channel);
            using var call = client.Stream(headers, cancellationToken: streamStop.Token);
            Interlocked.Increment(ref _opened);
            // The peer answers a new stream with its response headers: the stream is up before anything is written.
            var answered = WatchHeadersAsync(call.ResponseHeadersAsync, onConnected);
            // The response only arrives when the server ends the stream or the connection fails: either way the
            // stream is over, and watching it is how a dead peer is noticed while our queue is idle.
            var response = call.ResponseAsync;
            var pump = PumpAsync(call.RequestStream, onConnected, streamStop.Token);
            var first = await Task.WhenAny(response, pump).ConfigureAwait(false);
            await streamStop.CancelAsync().ConfigureAwait(false);
            var other = first == response ? (Task)pump : response;
            await other.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            // Never faults; awaited so that a late answer cannot mark the next attempt connected.
            await answered.ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            // The task that ended first carries the reason.
            await first.ConfigureAwait(false);
            throw new RpcException(new Status(StatusCode.Unavailable, $"node {Id} ended the Raft stream"));
        }

        private async Task PumpAsync(IClientStreamWriter<BytesValue> requests, Action onConnected, CancellationToken cancellationToken)
        {
            var reader = _queue.Reader;
            var batch = new List<Message>();
            var frame = new ArrayBufferWriter<byte>(4096);
            var scratch = new ArrayBufferWriter<byte>(1024);
            var frameBytesMax = _owner._options.MaxFrameBytes;
            while (await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                // Everything queued so far goes out as one frame, so one write and one flush carry a whole Ready's
                // worth of messages for this peer (and whatever queued while the previous write was in flight).
                while (TakeBatch(reader, batch, frameBytesMax))
                {
                    frame.ResetWrittenCount();
                    RaftMessageCodec.EncodeFrame(batch, frame, scratch);
                    // The frame buffer is reused only after the write completed: the call has serialized it by then.
                    await requests.WriteAsync(new BytesValue { Value = UnsafeByteOperations.UnsafeWrap(frame.WrittenMemory) }, cancellationToken).ConfigureAwait(false);
                    Interlocked.Add(ref _sent, batch.Count);
                    Interlocked.Increment(ref _frames);
                    batch.Clear();
                    MarkConnected(onConnected);
                }
                // A frame grown far beyond the usual is not kept for the life of the stream.
                if (frame.Capacity > FrameBufferKeptBytes) frame = new ArrayBufferWriter<byte>(4096);
            }
            await requests.CompleteAsync().ConfigureAwait(false);
        }

        private async Task WatchHeadersAsync(Task<Metadata> responseHeaders, Action onConnected)
        {
            try
            {
                await responseHeaders.ConfigureAwait(false);
            }
            catch (Exception e) when (e is RpcException or OperationCanceledException or ObjectDisposedException)
            {
                // The stream failed or ended before the peer answered: the stream loop sees the same and reconnects.
                return;
            }
            MarkConnected(onConnected);
        }

        private void MarkConnected(Action onConnected)
        {
            // First of the peer's response headers and our first completed write; both may race to get here.
            lock (_connectGate)
            {
                if (_connected) return;
                _connected = true;
                onConnected();
            }
            _owner._logger.LogInformation("Raft node {NodeId}: stream to node {PeerId} at {Address} open", _owner._localId, Id, Address);
        }

        private TimeSpan Backoff(int attempt, RaftTransportOptions options)
        {
            var ceiling = Math.Min(options.ReconnectDelayMaxMs, options.ReconnectDelayMinMs * Math.Pow(2, Math.Min(attempt, 20)));
            // Full jitter above half the ceiling: peers that lost each other at once do not reconnect in lockstep.
            var ms = (ceiling / 2) + (_owner.NextJitter() * ceiling / 2);
            return TimeSpan.FromMilliseconds(ms);
        }
    }
}
