using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using RaftHead.Consensus.Core;
using RaftHead.Consensus.Tests.Cluster;
using RaftHead.Consensus.Transport;
using RaftHead.Protocol.Client;
using RaftHead.Protocol.V1;
using RaftHead.Testing;

namespace RaftHead.Consensus.Tests.Transport;

[Collection(RealTimeCollection.Name)]
public sealed class RaftPeerTransportTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Messages_are_pipelined_in_order_over_one_stream_and_the_stream_comes_back_after_the_peer_restarts()
    {
        var received = new System.Collections.Concurrent.ConcurrentQueue<Message>();
        var port = Ports.Free(1)[0];
        // Lazily opened: the one stream this counts is the one the first message opens (see the eager test below).
        await using var transport = new RaftPeerTransport(2, new RaftTransportOptions { ReconnectDelayMinMs = 10, ReconnectDelayMaxMs = 50, OpenStreamsEagerly = false });
        transport.SetPeer(1, $"127.0.0.1:{port}");

        using var stopFirst = new CancellationTokenSource();
        await using (var server = await StartAsync(port, received, stopFirst.Token))
        {
            for (var i = 1; i <= 500; i++) Assert.True(transport.Send(Heartbeat(i)));
            await Eventually.WaitUntilAsync(() => received.Count == 500, Timeout, "500 messages");
            Assert.Equal(Enumerable.Range(1, 500).Select(i => (long)i), received.Select(m => m.Commit));
            Assert.Equal(1, transport.Stats().Single().StreamsOpened);
            await stopFirst.CancelAsync(); // ends the open stream, as a host does on shutdown
        }

        // The peer is gone: sends are dropped or lost until it is back on the same port, then flow again.
        received.Clear();
        for (var i = 0; i < 20; i++) transport.Send(Heartbeat(i));
        using var stopSecond = new CancellationTokenSource();
        await using var restarted = await StartAsync(port, received, stopSecond.Token);
        await Eventually.WaitUntilAsync(
            () =>
            {
                transport.Send(Heartbeat(1000));
                return received.Any(m => m.Commit == 1000);
            },
            Timeout,
            "messages to flow after the peer restarted");
        var stats = transport.Stats().Single();
        Assert.True(stats.StreamsOpened >= 2);
        Assert.True(stats.StreamFailures >= 1);
        await stopSecond.CancelAsync();
    }

    [Fact]
    public async Task An_eager_stream_opens_as_soon_as_the_peer_listens_before_anything_is_sent_and_carries_the_first_message()
    {
        var received = new System.Collections.Concurrent.ConcurrentQueue<Message>();
        var port = Ports.Free(1)[0];
        await using var transport = new RaftPeerTransport(2, new RaftTransportOptions { ReconnectDelayMinMs = 10, ReconnectDelayMaxMs = 50 });
        transport.SetPeer(1, $"127.0.0.1:{port}");
        // Nobody listens yet: the attempts fail and are retried with nothing queued.
        await Eventually.WaitUntilAsync(() => transport.Stats().Single().StreamFailures >= 1, Timeout, "a failed attempt while the peer is down");

        using var stop = new CancellationTokenSource();
        await using var server = await StartAsync(port, received, stop.Token);
        await Eventually.WaitUntilAsync(() => transport.Stats().Single().Connected, Timeout, "the stream to open with nothing sent");
        var open = transport.Stats().Single();
        Assert.Equal(0, open.Sent);

        Assert.True(transport.Send(Heartbeat(1)));
        await Eventually.WaitUntilAsync(() => received.Count == 1, Timeout, "the first message");
        var after = transport.Stats().Single();
        Assert.Equal(open.StreamsOpened, after.StreamsOpened); // it went over the stream already open
        Assert.Equal(open.StreamFailures, after.StreamFailures);
        await stop.CancelAsync();
    }

    [Theory]
    [InlineData(1024 * 1024)]
    [InlineData(1)]
    public async Task Messages_queued_together_share_one_write_within_the_frame_budget(int maxFrameBytes)
    {
        var received = new System.Collections.Concurrent.ConcurrentQueue<Message>();
        var port = Ports.Free(1)[0];
        using var stop = new CancellationTokenSource();
        await using var server = await StartAsync(port, received, stop.Token);
        await using var transport = new RaftPeerTransport(2, new RaftTransportOptions { MaxFrameBytes = maxFrameBytes });
        transport.SetPeer(1, $"127.0.0.1:{port}");

        // Queued far faster than the stream can open and write: the writer finds most of them waiting.
        const int count = 500;
        for (var i = 1; i <= count; i++) Assert.True(transport.Send(Heartbeat(i)));
        await Eventually.WaitUntilAsync(() => received.Count == count, Timeout, $"{count} messages");
        Assert.Equal(Enumerable.Range(1, count).Select(i => (long)i), received.Select(m => m.Commit));
        var stats = transport.Stats().Single();
        Assert.Equal(count, stats.Sent);
        if (maxFrameBytes == 1)
        {
            Assert.Equal(count, stats.FramesSent); // every message is over the budget alone: one frame each
        }
        else
        {
            Assert.True(stats.FramesSent < count / 4, $"{stats.FramesSent} writes for {count} queued messages");
        }
        await stop.CancelAsync();
    }

    [Fact]
    public async Task A_full_queue_drops_instead_of_blocking()
    {
        var closedPort = Ports.Free(1)[0];
        await using var transport = new RaftPeerTransport(2, new RaftTransportOptions { QueueCapacity = 8, ReconnectDelayMinMs = 500, ReconnectDelayMaxMs = 1000 });
        transport.SetPeer(1, $"127.0.0.1:{closedPort}");
        var refused = Enumerable.Range(0, 200).Count(i => !transport.Send(Heartbeat(i)));
        Assert.True(refused > 0, "a bounded queue must refuse beyond its capacity");
        Assert.True(transport.Stats().Single().Dropped >= refused);
        Assert.False(transport.Send(Heartbeat(1) with { To = 77 }), "no address for node 77");
    }

    [Fact]
    public async Task The_receiver_refuses_streams_meant_for_another_node_and_malformed_messages()
    {
        var received = new System.Collections.Concurrent.ConcurrentQueue<Message>();
        var port = Ports.Free(1)[0];
        await using var server = await StartAsync(port, received, CancellationToken.None);
        using var channel = GrpcChannels.Create(GrpcChannels.ParseEndpoint($"127.0.0.1:{port}"), new GrpcChannelSettings { RetryAttemptsMax = 1 });
        var client = new Raft.RaftClient(channel);

        var wrongNode = new Metadata { { RaftHeaders.From, "2" }, { RaftHeaders.To, "3" } };
        using (var call = client.Stream(wrongNode, deadline: DateTime.UtcNow + Timeout))
        {
            var error = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync);
            Assert.Equal(StatusCode.FailedPrecondition, error.StatusCode);
        }

        using (var call = client.Stream(deadline: DateTime.UtcNow + Timeout))
        {
            await call.RequestStream.WriteAsync(new BytesValue { Value = Google.Protobuf.ByteString.CopyFrom(1, 2, 3) });
            var error = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync);
            Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        }
        Assert.Empty(received);
    }

    [Fact]
    public async Task Dispose_is_quiet_and_bounded_while_the_peer_is_stopping_too()
    {
        var received = new System.Collections.Concurrent.ConcurrentQueue<Message>();
        var port = Ports.Free(1)[0];
        var logger = new RecordingLogger();
        var transport = new RaftPeerTransport(2, new RaftTransportOptions { ReconnectDelayMinMs = 10, ReconnectDelayMaxMs = 50, RandomSeed = 7 }, logger);
        transport.SetPeer(1, $"127.0.0.1:{port}");
        using var stopping = new CancellationTokenSource();
        await using var server = await StartAsync(port, received, stopping.Token);
        Assert.True(transport.Send(Heartbeat(1)));
        await Eventually.WaitUntilAsync(() => !received.IsEmpty, Timeout, "the stream to carry a message");

        // Both ends stop at once, as when a whole cluster shuts down: the stream may end by our cancellation or
        // by the peer's UNAVAILABLE, and either is an expected end.
        var peerStops = stopping.CancelAsync();
        await transport.DisposeAsync().AsTask().WaitAsync(Timeout);
        await peerStops;
        Assert.Empty(logger.Errors);
    }

    private static Message Heartbeat(long sequence) => new() { Type = MessageType.Heartbeat, From = 2, To = 1, Term = 1, Commit = sequence };

    private static Task<GrpcTestServer> StartAsync(int port, System.Collections.Concurrent.ConcurrentQueue<Message> received, CancellationToken stopping)
    {
        var options = new RaftTransportOptions();
        var service = new RaftTransportService(1, m =>
        {
            received.Enqueue(m);
            return true;
        }, stopping, options);
        return GrpcTestServer.StartAsync(port, service, options, control: null, loggerFactory: null, CancellationToken.None);
    }

    /// <summary>Keeps what was logged at error level or above, for tests that require a quiet shutdown.</summary>
    private sealed class RecordingLogger : ILogger
    {
        public System.Collections.Concurrent.ConcurrentQueue<string> Errors { get; } = new();

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (logLevel >= LogLevel.Error) Errors.Enqueue(formatter(state, exception) + (exception is null ? "" : " " + exception));
        }
    }
}
