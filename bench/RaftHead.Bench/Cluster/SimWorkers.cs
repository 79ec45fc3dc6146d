using Build.Bazel.Remote.Execution.V2;
using Grpc.Core;
using Grpc.Net.Client;
using RaftHead.Protocol.V1;

namespace RaftHead.Bench.Cluster;

/// <summary>
/// Many workers simulated in this process through the worker protocol: each registers, then heartbeats once a second;
/// the first few also lease and complete each lease at once with an empty exit-0 result (no process is run). Placement
/// prefers the worker with the most free slots, so the leasing ones declare many slots and the rest one, which keeps the
/// grants on workers that take them up. They share a few channels (one HTTP/2 connection each), where real workers
/// would hold one each.
/// </summary>
internal sealed class SimWorkers : IAsyncDisposable
{
    private const int Channels = 16;
    private const int LeaseSlots = 256;

    private readonly GrpcChannel[] _channels;
    private readonly CancellationTokenSource _stop = new();
    private readonly CancellationTokenSource _stopLeasing = new();
    private readonly List<Task> _loops = new();
    private long _heartbeats;
    private long _heartbeatFailures;
    private long _granted;
    private long _completed;

    public SimWorkers(string endpoint)
    {
        _channels = new GrpcChannel[Channels];
        for (var i = 0; i < Channels; i++)
        {
            _channels[i] = GrpcChannel.ForAddress("http://" + endpoint, new GrpcChannelOptions { HttpHandler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true } });
        }
    }

    public long Heartbeats => Interlocked.Read(ref _heartbeats);

    public long HeartbeatFailures => Interlocked.Read(ref _heartbeatFailures);

    public long Granted => Interlocked.Read(ref _granted);

    public long Completed => Interlocked.Read(ref _completed);

    public int Registered { get; private set; }

    /// <summary>The last heartbeat failure, for the report.</summary>
    public string? LastError { get; private set; }

    /// <summary>Registers every worker (bounded concurrency), then starts the heartbeat loops.</summary>
    public async Task RegisterAsync(int count, int leasing, CancellationToken cancellationToken)
    {
        var incarnation = Guid.NewGuid().ToString("N");
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
                        var client = Client(n);
                        await client.RegisterAsync(
                            new WorkerRegisterRequest { WorkerId = Id(n), Slots = n < leasing ? LeaseSlots : 1u, CpuMillis = 64_000, MemoryBytes = 64UL << 30, Incarnation = incarnation },
                            deadline: DateTime.UtcNow.AddSeconds(30),
                            cancellationToken: cancellationToken).ConfigureAwait(false);
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

    public void StartLeasing(int workers)
    {
        for (var i = 0; i < workers; i++)
        {
            _loops.Add(LeaseLoopAsync(i));
        }
    }

    public void StopLeasing() => _stopLeasing.Cancel();

    public async ValueTask DisposeAsync()
    {
        _stopLeasing.Cancel();
        _stop.Cancel();
        try
        {
            await Task.WhenAll(_loops).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        foreach (var channel in _channels)
        {
            channel.Dispose();
        }

        _stop.Dispose();
        _stopLeasing.Dispose();
    }

    private static string Id(int n) => "sim-" + n.ToString("D4", System.Globalization.CultureInfo.InvariantCulture);

    private WorkerProtocol.WorkerProtocolClient Client(int n) => new(_channels[n % Channels]);

    private async Task HeartbeatLoopAsync(int n, string incarnation, TimeSpan phase)
    {
        var stop = _stop.Token;
        var client = Client(n);
        try
        {
            // Spread over the second so the heartbeats arrive evenly, as independent workers' would.
            await Task.Delay(phase, stop).ConfigureAwait(false);
            using var tick = new PeriodicTimer(TimeSpan.FromSeconds(1));
            do
            {
                try
                {
                    await client.HeartbeatAsync(new WorkerHeartbeatRequest { WorkerId = Id(n), Incarnation = incarnation }, deadline: DateTime.UtcNow.AddSeconds(5), cancellationToken: stop).ConfigureAwait(false);
                    Interlocked.Increment(ref _heartbeats);
                }
                catch (RpcException e) when (!stop.IsCancellationRequested)
                {
                    LastError = e.Status.ToString();
                    Interlocked.Increment(ref _heartbeatFailures);
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
        var stop = _stopLeasing.Token;
        var client = Client(n);
        var result = new ActionResult { ExitCode = 0 };
        try
        {
            while (!stop.IsCancellationRequested)
            {
                var leases = await client.LeaseAsync(new WorkerLeaseRequest { WorkerId = Id(n), FreeSlots = LeaseSlots, WaitMs = 500 }, deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: stop).ConfigureAwait(false);
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

                foreach (var done in await Task.WhenAll(completions).ConfigureAwait(false))
                {
                    if (done.Accepted)
                    {
                        Interlocked.Increment(ref _completed);
                    }
                    else
                    {
                        LastError = "a completion was not accepted";
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
        catch (RpcException e)
        {
            LastError = "lease loop: " + e.Status;
            throw;
        }
    }
}
