using Build.Bazel.Remote.Execution.V2;
using Grpc.Core;
using Grpc.Net.Client;
using RaftHead.Protocol;
using RaftHead.Protocol.V1;

namespace RaftHead.Bench.Cluster;

/// <summary>
/// Many workers simulated in this process through the worker protocol: each registers, then heartbeats once a second;
/// the first few (or, for the drain, all) also lease and complete each lease at once with an empty exit-0 result (no
/// process is run). Placement prefers the worker with the most free slots, so the first few declare many slots and the
/// rest one, which keeps the grants on workers that take them up while only those lease. They share a few channels (one HTTP/2 connection each), where real workers
/// would hold one each.
/// </summary>
internal sealed class SimWorkers : IAsyncDisposable
{
    private const int Channels = 16;
    private const int LeaseSlots = 256;

    private readonly string[] _endpoints;
    private readonly GrpcChannel[][] _channels;
    private int _leader;
    private string _incarnation = "";
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _loops = new();
    private readonly List<Task> _leaseLoops = new();
    private int _wide;
    private bool _leasing;
    private long _heartbeats;
    private long _heartbeatFailures;
    private long _granted;
    private long _completed;
    private long _leaseFailures;

    /// <param name="endpoints">Every head, so the workers can follow the leader as real ones do.</param>
    /// <param name="leader">The index of the head that leads now.</param>
    public SimWorkers(string[] endpoints, int leader)
    {
        _endpoints = endpoints;
        _leader = leader;
        _channels = new GrpcChannel[endpoints.Length][];
        for (var e = 0; e < endpoints.Length; e++)
        {
            _channels[e] = new GrpcChannel[Channels];
            for (var i = 0; i < Channels; i++)
            {
                // A channel connects at its first call: the heads that never lead cost nothing.
                _channels[e][i] = GrpcChannel.ForAddress("http://" + endpoints[e], new GrpcChannelOptions { HttpHandler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true } });
            }
        }
    }

    /// <summary>Times the workers moved to another head after being told it leads.</summary>
    public int LeaderMoves { get; private set; }

    public long Heartbeats => Interlocked.Read(ref _heartbeats);

    public long HeartbeatFailures => Interlocked.Read(ref _heartbeatFailures);

    public long Granted => Interlocked.Read(ref _granted);

    public long Completed => Interlocked.Read(ref _completed);

    /// <summary>Lease and Complete calls that failed (each retried or dropped as a real worker would).</summary>
    public long LeaseFailures => Interlocked.Read(ref _leaseFailures);

    public int Registered { get; private set; }

    /// <summary>The last heartbeat failure, for the report.</summary>
    public string? LastError { get; private set; }

    /// <summary>Registers every worker (bounded concurrency), then starts the heartbeat loops.</summary>
    public async Task RegisterAsync(int count, int leasing, CancellationToken cancellationToken)
    {
        var incarnation = Guid.NewGuid().ToString("N");
        _incarnation = incarnation;
        _wide = leasing;
        using var gate = new SemaphoreSlim(64);
        var registrations = new Task[count];
        for (var i = 0; i < count; i++)
        {
            var n = i;
            registrations[i] = Task.Run(
                async () =>
                {
                    await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
                    try
                    {
                        await Client(n).RegisterAsync(RegisterRequest(n), deadline: DateTime.UtcNow.AddSeconds(30), cancellationToken: cancellationToken).ConfigureAwait(false);
                    }
                    finally
                    {
                        gate.Release();
                    }
                },
                cancellationToken);
        }

        await Task.WhenAll(registrations).ConfigureAwait(false);
        Registered = count;
        for (var i = 0; i < count; i++)
        {
            _loops.Add(HeartbeatLoopAsync(i, incarnation, TimeSpan.FromMilliseconds(1_000.0 * i / count)));
        }
    }

    /// <summary>Starts the lease loops of workers [0, <paramref name="workers"/>), each asking for as many leases as it has slots.</summary>
    public void StartLeasing(int workers)
    {
        Volatile.Write(ref _leasing, true);
        for (var i = 0; i < Math.Min(workers, Registered); i++)
        {
            _leaseLoops.Add(LeaseLoopAsync(i));
        }
    }

    /// <summary>
    /// Stops leasing between polls (a poll in flight ends at its wait and its leases are completed), so no lease is left
    /// delivered and never run; returns once every lease loop has ended.
    /// </summary>
    public async Task StopLeasingAsync()
    {
        Volatile.Write(ref _leasing, false);
        await Task.WhenAll(_leaseLoops).ConfigureAwait(false);
        _leaseLoops.Clear();
    }

    public async ValueTask DisposeAsync()
    {
        Volatile.Write(ref _leasing, false);
        _stop.Cancel();
        try
        {
            await Task.WhenAll(_loops.Concat(_leaseLoops)).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        foreach (var channel in _channels.SelectMany(c => c))
        {
            channel.Dispose();
        }

        _stop.Dispose();
    }

    private static string Id(int n) => "sim-" + n.ToString("D4", System.Globalization.CultureInfo.InvariantCulture);

    private WorkerProtocol.WorkerProtocolClient Client(int n) => new(_channels[Volatile.Read(ref _leader)][n % Channels]);

    private WorkerRegisterRequest RegisterRequest(int n) =>
        new() { WorkerId = Id(n), Slots = Slots(n), LeaseAhead = Slots(n), CpuMillis = 64_000, MemoryBytes = 64UL << 30, Incarnation = _incarnation };

    /// <summary>Slots of worker <paramref name="n"/>; like a real worker's default it also holds one lease ahead per slot.</summary>
    private uint Slots(int n) => n < _wide ? LeaseSlots : 1u;

    /// <summary>One more try at a refused completion, at the head now believed to lead, as a real worker retries.</summary>
    private async Task RetryCompleteAsync(int n, WorkLease lease, ActionResult result)
    {
        try
        {
            var again = await Client(n).CompleteAsync(
                new WorkerCompleteRequest { WorkerId = Id(n), OperationName = lease.OperationName, Attempt = lease.Attempt, Result = result, Status = new Google.Rpc.Status() },
                deadline: DateTime.UtcNow.AddSeconds(10),
                cancellationToken: CancellationToken.None).ConfigureAwait(false);
            if (again.Accepted)
            {
                Interlocked.Increment(ref _completed);
            }
        }
        catch (RpcException e)
        {
            LastError = "complete, retried: " + e.Status;
            Interlocked.Increment(ref _leaseFailures);
        }
    }

    /// <summary>Moves every worker to the head a NOT_LEADER answer names, as a real worker's client does.</summary>
    private void Follow(RpcException e)
    {
        if (LeaderHint.From(e) is { } address)
        {
            var index = Array.IndexOf(_endpoints, address);
            if (index >= 0 && Interlocked.Exchange(ref _leader, index) != index)
            {
                LeaderMoves++;
            }
        }
    }

    private async Task HeartbeatLoopAsync(int n, string incarnation, TimeSpan phase)
    {
        var stop = _stop.Token;
        try
        {
            // Spread over the second so the heartbeats arrive evenly, as independent workers' would.
            await Task.Delay(phase, stop).ConfigureAwait(false);
            using var tick = new PeriodicTimer(TimeSpan.FromSeconds(1));
            do
            {
                try
                {
                    var client = Client(n);
                    var beat = await client.HeartbeatAsync(new WorkerHeartbeatRequest { WorkerId = Id(n), Incarnation = incarnation }, deadline: DateTime.UtcNow.AddSeconds(5), cancellationToken: stop).ConfigureAwait(false);
                    Interlocked.Increment(ref _heartbeats);
                    if (beat.RegisterAgain)
                    {
                        // A new leader does not know this process yet (or declared it dead), as it would a real worker's.
                        await client.RegisterAsync(RegisterRequest(n), deadline: DateTime.UtcNow.AddSeconds(5), cancellationToken: stop).ConfigureAwait(false);
                    }
                }
                catch (RpcException e) when (!stop.IsCancellationRequested)
                {
                    LastError = e.Status.ToString();
                    Interlocked.Increment(ref _heartbeatFailures);
                    Follow(e);
                }
            }
            while (await tick.WaitForNextTickAsync(stop).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
        catch (RpcException) when (stop.IsCancellationRequested)
        {
        }
    }

    private async Task LeaseLoopAsync(int n)
    {
        var stop = _stop.Token;
        var result = new ActionResult { ExitCode = 0 };
        var slots = 2 * Slots(n);
        try
        {
            while (Volatile.Read(ref _leasing) && !stop.IsCancellationRequested)
            {
                WorkerLeaseResponse leases;
                var client = Client(n);
                try
                {
                    leases = await client.LeaseAsync(new WorkerLeaseRequest { WorkerId = Id(n), FreeSlots = slots, WaitMs = 500 }, deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: stop).ConfigureAwait(false);
                }
                catch (RpcException e) when (!stop.IsCancellationRequested)
                {
                    // A real worker retries (the head may be busy or no longer lead); the loop ends when leasing stops.
                    LastError = "lease: " + e.Status;
                    Interlocked.Increment(ref _leaseFailures);
                    Follow(e);
                    await Task.Delay(100, stop).ConfigureAwait(false);
                    continue;
                }

                Interlocked.Add(ref _granted, leases.Leases.Count);
                var completions = new Task<WorkerCompleteResponse>[leases.Leases.Count];
                for (var i = 0; i < completions.Length; i++)
                {
                    var lease = leases.Leases[i];
                    completions[i] = client.CompleteAsync(
                        new WorkerCompleteRequest { WorkerId = Id(n), OperationName = lease.OperationName, Attempt = lease.Attempt, Result = result, Status = new Google.Rpc.Status() },
                        deadline: DateTime.UtcNow.AddSeconds(10),
                        cancellationToken: CancellationToken.None).ResponseAsync;
                }

                for (var i = 0; i < completions.Length; i++)
                {
                    try
                    {
                        if ((await completions[i].ConfigureAwait(false)).Accepted)
                        {
                            Interlocked.Increment(ref _completed);
                        }
                        else
                        {
                            LastError = "a completion was not accepted";
                        }
                    }
                    catch (RpcException e)
                    {
                        LastError = "complete: " + e.Status;
                        Interlocked.Increment(ref _leaseFailures);
                        Follow(e);
                        await RetryCompleteAsync(n, leases.Leases[i], result).ConfigureAwait(false);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
        catch (RpcException) when (stop.IsCancellationRequested)
        {
        }
    }
}
