using System.Diagnostics;
using System.Globalization;
using Build.Bazel.Remote.Execution.V2;
using Grpc.Core;
using RaftHead.Bench.Execution;
using RaftHead.Bench.Storage;
using RaftHead.Protocol.Client;

namespace RaftHead.Bench.Cluster;

/// <summary>
/// The replicated head against the single node, in one run: no-op Execute latency and rate (single node, the leader of
/// three, a follower), cache-hit Execute, the spawn-path baseline, leader failover as a client sees it, and many
/// simulated workers against three heads (heartbeat CPU on the leader, dispatch rate, a full queue).
/// </summary>
internal sealed class ClusterScenario(ClusterOptions options)
{
    private const int Warmup = 100;
    private const int CachedSet = 100;
    private readonly ClusterResults _r = new();
    private long _salt;

    public async Task<ClusterResults> RunAsync(CancellationToken cancellationToken)
    {
        var rh = options.RhPath ?? FindRh();
        _r.RhPath = rh;
        _r.LoadBefore = ProcStat.LoadAverage();
        using var dir = new TempDirectory(options.TempRoot, "cluster");
        ExecutePhase.Traversable(dir.Path);

        if (!options.SkipExecute)
        {
            _r.Spawn = await SpawnRate.RunAsync(options, cancellationToken).ConfigureAwait(false);
            await ExecuteAndFailoverAsync(rh, dir.Path, cancellationToken).ConfigureAwait(false);
        }

        if (!options.SkipScale)
        {
            await ScaleAsync(rh, dir.Path, cancellationToken).ConfigureAwait(false);
        }

        _r.LoadAfter = ProcStat.LoadAverage();
        return _r;
    }

    private async Task ExecuteAndFailoverAsync(string rh, string root, CancellationToken cancellationToken)
    {
        var servePort = options.BasePort + 5;
        await using (var serve = await RhProcess.StartAsync("rh serve", rh, ["serve", "--exec", "--slots", Str(options.Slots), "--port", Str(servePort), "--data", Path.Combine(root, "serve")], TimeSpan.FromSeconds(60), cancellationToken).ConfigureAwait(false))
        await using (var up = await RhProcess.StartAsync("rh up", rh, ["up", "--data", Path.Combine(root, "up"), "--base-port", Str(options.BasePort), "--workers", "1", "--slots", Str(options.Slots)], TimeSpan.FromSeconds(120), cancellationToken).ConfigureAwait(false))
        {
            Console.Error.WriteLine($"cluster: {serve.ReadyLine}");
            Console.Error.WriteLine($"cluster: {up.ReadyLine}");
            using var single = GrpcChannels.Create(new Uri($"http://127.0.0.1:{servePort}"), new GrpcChannelSettings());
            using var heads = new Heads([$"127.0.0.1:{options.BasePort}", $"127.0.0.1:{options.BasePort + 1}", $"127.0.0.1:{options.BasePort + 2}"]);
            var (leader, _) = await heads.HealthyAsync(TimeSpan.FromSeconds(60), cancellationToken).ConfigureAwait(false);
            var follower = (leader + 1) % 3;
            await ExecuteCasesAsync(new ReapiClients(single), heads.Clients[leader], heads.Clients[follower], cancellationToken).ConfigureAwait(false);
            _r.LoadAfterExecute = ProcStat.LoadAverage();
            if (!options.SkipFailover)
            {
                await FailoverAsync(heads, up, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private static string Str(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static string FindRh()
    {
        for (var dir = new DirectoryInfo(Environment.CurrentDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "src", "RaftHead.Cli", "bin", "Release", "net10.0", "rh");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException("no rh found: build it (dotnet build src/RaftHead.Cli -c Release) or pass --rh FILE");
    }

    private async Task<Digest[]> UploadAsync(ReapiClients clients, int count, CancellationToken cancellationToken)
    {
        var first = Interlocked.Add(ref _salt, count) - count;
        return await NoOpActions.UploadAsync(clients, count, cancellationToken, first).ConfigureAwait(false);
    }

    /// <summary>The three targets take turns case by case, so drift in the shared machine's load falls on all of them.</summary>
    private async Task ExecuteCasesAsync(ReapiClients single, ReapiClients leader, ReapiClients follower, CancellationToken cancellationToken)
    {
        var duration = TimeSpan.FromSeconds(options.CaseSeconds);
        var perTarget = Warmup + CachedSet + (2 * options.CaseCallsMax);
        var targets = new (string Name, ReapiClients Clients, ActionQueue Fresh, Digest[] Cached)[3];
        var names = new[] { "single node (rh serve --exec)", "three heads, client at the leader", "three heads, client at a follower" };
        var clients = new[] { single, leader, follower };
        var clock = Stopwatch.StartNew();
        for (var t = 0; t < 3; t++)
        {
            // Actions for the cluster go in through the head the client uses, as a client's would.
            var actions = await UploadAsync(clients[t], perTarget, cancellationToken).ConfigureAwait(false);
            targets[t] = (names[t], clients[t], new ActionQueue(actions[CachedSet..]), actions[..CachedSet]);
        }

        Console.Error.WriteLine($"cluster: {3 * perTarget:N0} actions uploaded in {clock.Elapsed.TotalSeconds:0.0} s");
        foreach (var (name, target, fresh, cached) in targets)
        {
            // Warm-up; the cached set runs once here so that later Executes of it are action cache hits.
            // Four clients take actions at once: each index must go to exactly one, or an action is never filled.
            var c = -1;
            await ExecuteLoad.RunAsync("warm-up (cache fill) " + name, target, () => Interlocked.Increment(ref c) is var i && i < cached.Length ? cached[i] : null, false, 4, TimeSpan.FromSeconds(30), CachedSet, cancellationToken).ConfigureAwait(false);
            await ExecuteLoad.RunAsync("warm-up " + name, target, () => fresh.TryNext(out var a) ? a : null, false, options.Clients, TimeSpan.FromSeconds(5), Warmup, cancellationToken).ConfigureAwait(false);
        }

        foreach (var clientCount in new[] { 1, options.Clients })
        {
            foreach (var (name, target, fresh, _) in targets)
            {
                _r.Execute.Add(await ExecuteLoad.RunAsync(name, target, () => fresh.TryNext(out var a) ? a : null, false, clientCount, duration, options.CaseCallsMax, cancellationToken).ConfigureAwait(false));
            }
        }

        foreach (var (name, target, _, cached) in targets)
        {
            long i = -1;
            _r.Cached.Add(await ExecuteLoad.RunAsync(name, target, () => cached[Interlocked.Increment(ref i) % cached.Length], true, 1, duration, options.CaseCallsMax, cancellationToken).ConfigureAwait(false));
        }
    }

    /// <summary>kill -9 the leader; time until a fresh no-op Execute is accepted and done on some head; wait for three healthy members.</summary>
    private async Task FailoverAsync(Heads heads, RhProcess up, CancellationToken cancellationToken)
    {
        var actions = new ActionQueue(await UploadAsync(heads.Clients[0], options.Kills, cancellationToken).ConfigureAwait(false));
        for (var k = 0; k < options.Kills; k++)
        {
            int leader;
            Protocol.V1.GetNodeStatusResponse answer;
            try
            {
                (leader, answer) = await heads.HealthyAsync(TimeSpan.FromSeconds(90), cancellationToken).ConfigureAwait(false);
            }
            catch (InvalidOperationException e)
            {
                _r.FailoverNote = $"stopped before kill {k + 1}: {e.Message}; rh up's last lines: {up.Tail()}";
                Console.Error.WriteLine("cluster: " + _r.FailoverNote);
                return;
            }

            if (!actions.TryNext(out var action))
            {
                throw new InvalidOperationException("Benchmark self-check failed: failover actions ran out.");
            }

            using var victim = Process.GetProcessById(answer.Pid);
            var killed = Stopwatch.StartNew();
            victim.Kill();
            var attempts = 0;
            var target = (leader + 1) % 3;
            var done = false;
            while (!done && killed.Elapsed < TimeSpan.FromSeconds(60))
            {
                attempts++;
                try
                {
                    // The same action on a retry: with skip_cache_lookup it runs again whether or not the failed attempt ran it.
                    await ExecuteLoad.OnceAsync(heads.Clients[target], action, false, TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
                    done = true;
                }
                catch (Exception e) when (e is RpcException or InvalidOperationException)
                {
                    // A client's retry: the next head, after a short pause.
                    target = (target + 1) % 3;
                    _r.FailoverErrors.Add(e is RpcException r ? r.StatusCode.ToString() : "operation error");
                    await Task.Delay(50, cancellationToken).ConfigureAwait(false);
                }
            }

            var ms = done ? killed.Elapsed.TotalMilliseconds : double.PositiveInfinity;
            _r.FailoverMs.Add(ms);
            Console.Error.WriteLine(FormattableString.Invariant($"cluster: kill {k + 1}: leader {answer.NodeId} (pid {answer.Pid}, term {answer.Term}) killed; Execute done after {ms:0} ms, {attempts} attempt(s)"));
            if (!done)
            {
                _r.FailoverNote = $"kill {k + 1}: no Execute done within 60 s; rh up's last lines: {up.Tail()}";
            }
        }

        try
        {
            await heads.HealthyAsync(TimeSpan.FromSeconds(90), cancellationToken).ConfigureAwait(false);
        }
        catch (InvalidOperationException e)
        {
            _r.FailoverNote = $"not healthy after the last kill: {e.Message}";
        }
    }

    private async Task ScaleAsync(string rh, string root, CancellationToken cancellationToken)
    {
        var basePort = options.BasePort + 10;
        var endpoints = new[] { $"127.0.0.1:{basePort}", $"127.0.0.1:{basePort + 1}", $"127.0.0.1:{basePort + 2}" };
        var peers = string.Join(',', endpoints.Select((e, i) => $"{i + 1}={e}"));
        var started = await Task.WhenAll(Enumerable.Range(1, 3).Select(id =>
            RhProcess.StartAsync($"rh head {id}", rh, ["head", "--id", Str(id), "--peers", peers, "--data", Path.Combine(root, $"scale-head-{id}")], TimeSpan.FromSeconds(90), cancellationToken))).ConfigureAwait(false);
        try
        {
            using var heads = new Heads(endpoints);
            var (leaderIndex, leader) = await heads.HealthyAsync(TimeSpan.FromSeconds(60), cancellationToken).ConfigureAwait(false);
            var client = heads.Clients[leaderIndex];
            var flowActions = new ActionQueue(await UploadAsync(client, options.CaseCallsMax * 4, cancellationToken).ConfigureAwait(false));
            var fullActions = new ActionQueue(await UploadAsync(client, options.UnfinishedOperationsMax + 500, cancellationToken).ConfigureAwait(false));
            var drainActions = new ActionQueue(await UploadAsync(client, options.DrainOperations, cancellationToken).ConfigureAwait(false));
            var window = TimeSpan.FromSeconds(options.CpuWindowSeconds);

            // The uploads can cost the leader its lease on a loaded machine; measure whoever leads now.
            (leaderIndex, leader) = await heads.HealthyAsync(TimeSpan.FromSeconds(60), cancellationToken).ConfigureAwait(false);
            client = heads.Clients[leaderIndex];
            _r.ScaleLeaderPid = leader.Pid;
            _r.ScaleTermBefore = leader.Term;

            _r.CpuIdle = await CpuOverAsync(leader.Pid, window, cancellationToken).ConfigureAwait(false);
            await using var sims = new SimWorkers(endpoints, leaderIndex);
            var registering = Stopwatch.StartNew();
            await sims.RegisterAsync(options.SimulatedWorkers, options.LeasingWorkers, cancellationToken).ConfigureAwait(false);
            _r.RegisterSeconds = registering.Elapsed.TotalSeconds;
            Console.Error.WriteLine($"cluster: {options.SimulatedWorkers} simulated workers registered in {_r.RegisterSeconds:0.0} s");
            await UntilAsync(() => sims.Heartbeats >= 2L * options.SimulatedWorkers, TimeSpan.FromSeconds(30), () => $"{sims.Heartbeats} heartbeats, {sims.HeartbeatFailures} failed, last: {sims.LastError}", cancellationToken).ConfigureAwait(false);
            var beatsBefore = sims.Heartbeats;
            _r.CpuHeartbeats = await CpuOverAsync(leader.Pid, window, cancellationToken).ConfigureAwait(false);
            _r.HeartbeatsPerSecond = (sims.Heartbeats - beatsBefore) / options.CpuWindowSeconds;
            _r.HeartbeatFailures = sims.HeartbeatFailures;
            Console.Error.WriteLine(FormattableString.Invariant($"cluster: leader CPU {_r.CpuIdle:P1} idle, {_r.CpuHeartbeats:P1} with {_r.HeartbeatsPerSecond:0} heartbeats/s"));

            sims.StartLeasing(options.LeasingWorkers);
            var completedBefore = sims.Completed;
            var grantedBefore = sims.Granted;
            var cpuBefore = ProcStat.CpuSeconds(leader.Pid);
            var flowClock = Stopwatch.StartNew();
            _ = Task.Delay(TimeSpan.FromSeconds(5), cancellationToken).ContinueWith(_ => Console.Error.WriteLine($"cluster: after 5 s of flow: {sims.Granted} granted, {sims.Completed} completed; last error: {sims.LastError ?? "none"}"), TaskScheduler.Default);
            _r.Flow = await ExecuteLoad.RunAsync("flow at the leader, simulated workers", client, () => flowActions.TryNext(out var a) ? a : null, false, options.Clients, TimeSpan.FromSeconds(options.CaseSeconds * 2), options.CaseCallsMax * 4, cancellationToken).ConfigureAwait(false);
            var flowSeconds = flowClock.Elapsed.TotalSeconds;
            _r.CpuFlow = (ProcStat.CpuSeconds(leader.Pid) - cpuBefore) / flowSeconds;
            _r.GrantsPerSecond = (sims.Granted - grantedBefore) / flowSeconds;
            _r.CompletionsPerSecond = (sims.Completed - completedBefore) / flowSeconds;
            Console.Error.WriteLine(FormattableString.Invariant($"cluster: {_r.GrantsPerSecond:0} grants/s, {_r.CompletionsPerSecond:0} completions/s, leader CPU {_r.CpuFlow:P1}"));

            (leaderIndex, leader) = await heads.HealthyAsync(TimeSpan.FromSeconds(60), cancellationToken).ConfigureAwait(false);
            _r.ScaleTermAfter = leader.Term;
            client = heads.Clients[leaderIndex];
            await sims.StopLeasingAsync().ConfigureAwait(false);
            if (options.DrainOperations > 0)
            {
                await DrainAsync(client, sims, leader.Pid, started.Select(h => h.Pid).ToArray(), drainActions, cancellationToken).ConfigureAwait(false);
                (leaderIndex, leader) = await heads.HealthyAsync(TimeSpan.FromSeconds(60), cancellationToken).ConfigureAwait(false);
                _r.DrainTermAfter = leader.Term;
                client = heads.Clients[leaderIndex];
            }

            await QueueFullAsync(client, fullActions, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            foreach (var head in started)
            {
                await head.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Dispatch capacity: with leasing paused, queues <see cref="ClusterOptions.DrainOperations"/> operations (placement
    /// already grants what the workers' slots hold; the rest wait), then every simulated worker leases and completes as
    /// fast as it can until they are all done or <see cref="ClusterOptions.DrainSeconds"/> pass. Grants are leases the
    /// workers received, so a grant nobody polls for is not counted.
    /// </summary>
    private async Task DrainAsync(ReapiClients client, SimWorkers sims, int leaderPid, int[] headPids, ActionQueue actions, CancellationToken cancellationToken)
    {
        long accepted = 0;
        var filling = Stopwatch.StartNew();
        var submitters = Enumerable.Range(0, options.Clients).Select(_ => Task.Run(
            async () =>
            {
                while (filling.Elapsed < TimeSpan.FromSeconds(120) && actions.TryNext(out var action))
                {
                    StatusCode code;
                    try
                    {
                        code = await ExecuteLoad.SubmitOnlyAsync(client, action, cancellationToken).ConfigureAwait(false);
                    }
                    catch (RpcException e) when (e.StatusCode == StatusCode.Unavailable && filling.Elapsed < TimeSpan.FromSeconds(120))
                    {
                        // An election under load: go on with the next action after a pause. A refused submit that took
                        // effect anyway only makes the queue one deeper than counted.
                        await Task.Delay(100, cancellationToken).ConfigureAwait(false);
                        continue;
                    }

                    if (code != StatusCode.OK)
                    {
                        throw new InvalidOperationException("Benchmark self-check failed: the drain case's queue reached the bound on unfinished operations; lower --drain.");
                    }

                    Interlocked.Increment(ref accepted);
                }
            },
            cancellationToken));
        await Task.WhenAll(submitters).ConfigureAwait(false);
        _r.DrainQueued = accepted;
        _r.DrainFillSeconds = filling.Elapsed.TotalSeconds;
        Console.Error.WriteLine(FormattableString.Invariant($"cluster: drain: {accepted} operations queued in {_r.DrainFillSeconds:0.0} s with leasing paused"));

        var grantedBefore = sims.Granted;
        var completedBefore = sims.Completed;
        var failuresBefore = sims.LeaseFailures;
        var cpuBefore = ProcStat.CpuSeconds(leaderPid);
        var headsBefore = headPids.Sum(ProcStat.CpuSeconds);
        var benchBefore = ProcStat.CpuSeconds(Environment.ProcessId);
        var clock = Stopwatch.StartNew();
        sims.StartLeasing(sims.Registered);
        var limit = TimeSpan.FromSeconds(options.DrainSeconds);
        var lastSecond = 0L;
        var progress = (Completed: 0L, At: TimeSpan.Zero);
        while (sims.Completed - completedBefore < accepted && clock.Elapsed < limit)
        {
            await Task.Delay(20, cancellationToken).ConfigureAwait(false);
            if (sims.Completed - completedBefore > progress.Completed)
            {
                progress = (sims.Completed - completedBefore, clock.Elapsed);
            }
            else if (clock.Elapsed - progress.At > TimeSpan.FromSeconds(3))
            {
                // Leases lost with a leader change wait for their expiry (minutes): the rates end at the last progress.
                _r.DrainStalled = accepted - progress.Completed;
                break;
            }

            if (clock.ElapsedMilliseconds / 1_000 > lastSecond)
            {
                lastSecond = clock.ElapsedMilliseconds / 1_000;
                Console.Error.WriteLine($"cluster: drain: after {lastSecond} s: {sims.Granted - grantedBefore} granted, {sims.Completed - completedBefore} completed; last error: {sims.LastError ?? "none"}");
            }
        }

        var seconds = (_r.DrainStalled > 0 ? progress.At : clock.Elapsed).TotalSeconds;
        // CPU over the whole window (a stall's idle seconds included, which only lowers the shares).
        var window = clock.Elapsed.TotalSeconds;
        _r.DrainCpu = (ProcStat.CpuSeconds(leaderPid) - cpuBefore) / window;
        _r.DrainHeadsCpu = (headPids.Sum(ProcStat.CpuSeconds) - headsBefore) / window;
        _r.DrainBenchCpu = (ProcStat.CpuSeconds(Environment.ProcessId) - benchBefore) / window;
        _r.DrainWindowSeconds = window;
        _r.DrainFailures = sims.LeaseFailures - failuresBefore;
        _r.DrainLoad = ProcStat.LoadAverage();
        _r.DrainLeaderMoves = sims.LeaderMoves;
        _r.DrainGranted = sims.Granted - grantedBefore;
        _r.DrainCompleted = sims.Completed - completedBefore;
        _r.DrainSeconds = seconds;
        await sims.StopLeasingAsync().ConfigureAwait(false);
        Console.Error.WriteLine(FormattableString.Invariant($"cluster: drain: {_r.DrainGranted} granted, {_r.DrainCompleted} completed in {seconds:0.00} s: {_r.DrainGranted / seconds:0} grants/s, {_r.DrainCompleted / seconds:0} completions/s, leader CPU {_r.DrainCpu:P1} ({_r.DrainCpu * window * 1e6 / Math.Max(1, _r.DrainGranted):0} µs a grant), three heads {_r.DrainHeadsCpu:P1}, this process {_r.DrainBenchCpu:P1}; {_r.DrainFailures} failed worker calls; {_r.DrainStalled} never completed; the workers moved to a new leader {sims.LeaderMoves} time(s) in the whole scale phase"));
    }

    /// <summary>Submits until the scheduler's bound on unfinished operations answers RESOURCE_EXHAUSTED (with RetryInfo).</summary>
    private async Task QueueFullAsync(ReapiClients client, ActionQueue actions, CancellationToken cancellationToken)
    {
        long accepted = 0;
        long refused = 0;
        var refusedTicks = new List<long>();
        var clock = Stopwatch.StartNew();
        var tasks = Enumerable.Range(0, options.Clients).Select(_ => Task.Run(
            async () =>
            {
                while (Interlocked.Read(ref refused) < 200 && clock.Elapsed < TimeSpan.FromSeconds(180) && actions.TryNext(out var action))
                {
                    var before = Stopwatch.GetTimestamp();
                    var code = await ExecuteLoad.SubmitOnlyAsync(client, action, cancellationToken).ConfigureAwait(false);
                    var ticks = Stopwatch.GetTimestamp() - before;
                    if (code == StatusCode.OK)
                    {
                        Interlocked.Increment(ref accepted);
                    }
                    else
                    {
                        Interlocked.Increment(ref refused);
                        lock (refusedTicks)
                        {
                            refusedTicks.Add(ticks);
                        }
                    }
                }
            },
            cancellationToken));
        await Task.WhenAll(tasks).ConfigureAwait(false);
        _r.QueueAccepted = accepted;
        _r.QueueRefused = refused;
        _r.QueueSeconds = clock.Elapsed.TotalSeconds;
        (_r.QueueRefusedP50Us, _r.QueueRefusedP99Us) = Latencies.Percentiles(refusedTicks);
        Console.Error.WriteLine(FormattableString.Invariant($"cluster: queue: {accepted} accepted, {refused} RESOURCE_EXHAUSTED (p50 {_r.QueueRefusedP50Us:0} us) in {_r.QueueSeconds:0.0} s"));
    }

    private static async Task<double> CpuOverAsync(int pid, TimeSpan window, CancellationToken cancellationToken)
    {
        var before = ProcStat.CpuSeconds(pid);
        var clock = Stopwatch.StartNew();
        await Task.Delay(window, cancellationToken).ConfigureAwait(false);
        return (ProcStat.CpuSeconds(pid) - before) / clock.Elapsed.TotalSeconds;
    }

    private static async Task UntilAsync(Func<bool> condition, TimeSpan within, Func<string> state, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + within;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException($"condition not met within {within.TotalSeconds:0} s: {state()}");
            }

            await Task.Delay(100, cancellationToken).ConfigureAwait(false);
        }
    }
}
