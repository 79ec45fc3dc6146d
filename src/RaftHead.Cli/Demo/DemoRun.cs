using System.Diagnostics;
using System.Globalization;
using Grpc.Core;
using RaftHead.Cli.Graphs;
using RaftHead.Protocol;
using RaftHead.Protocol.Client;
using RaftHead.Protocol.V1;
using RaftHead.Storage.Remote;
using RaftHead.Worker.Sandbox;
using Spectre.Console;

namespace RaftHead.Cli.Demo;

/// <param name="Keep">Leave the data directory (cluster data and log, the project, the program) in place.</param>
/// <param name="BasePort">Port of head 1, the others the next two; null: three free consecutive ports.</param>
/// <param name="Json">Print the facts as JSON, nothing else on stdout.</param>
/// <param name="Live">stdout is a terminal: live progress displays and colour.</param>
internal sealed record DemoSettings(bool Keep, int? BasePort, bool Json, bool Live);

/// <summary>
/// <c>rh demo</c> from end to end: a cluster of its own, the bundled project built cold with the leader killed while
/// a step runs, built again from the cache, the program fetched from the CAS and run; then everything stopped.
/// </summary>
internal static class DemoRun
{
    private const string Interrupted = "interrupted";

    /// <summary>How long a survivor may take to win the election after the leader is killed.</summary>
    private static readonly TimeSpan ElectionBound = TimeSpan.FromSeconds(20);

    /// <summary>Bounds each build; the project builds in seconds.</summary>
    private static readonly TimeSpan BuildBound = TimeSpan.FromSeconds(60);

    private static readonly TimeSpan ProgramBound = TimeSpan.FromSeconds(10);

    public static async Task<int> RunAsync(DemoSettings settings, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        // What would make the demo fail only after a minute of starting things is said before anything starts.
        if (DemoProject.MissingTool() is { } missing)
        {
            await stderr.WriteLineAsync($"rh: {missing}").ConfigureAwait(false);
            return CliFailure.ExitFailure;
        }

        if (Environment.IsPrivilegedProcess && UnixUser.Find(Defaults.RunAsUser) is null)
        {
            await stderr.WriteLineAsync($"rh: the demo runs as root, so its workers run actions as {Defaults.RunAsUser}, which does not exist: create it with scripts/setup-worker.sh").ConfigureAwait(false);
            return CliFailure.ExitFailure;
        }

        var directory = Directory.CreateTempSubdirectory("rh-demo-").FullName;
        File.SetUnixFileMode(directory, UpCommand.Searchable);
        var report = new DemoReport { DataDirectory = directory };
        var narrator = settings.Json ? DemoNarrator.Silent() : settings.Live ? DemoNarrator.Terminal(AnsiConsole.Console) : DemoNarrator.Plain(stdout);
        string? workerRoot = null;
        try
        {
            var cluster = DemoCluster.Create(directory, settings.BasePort);
            workerRoot = cluster.Plan.WorkerDataRoot;
            await using (cluster.ConfigureAwait(false))
            {
                try
                {
                    await ShowAsync(cluster, report, narrator, directory, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (cancellationToken.IsCancellationRequested && e is OperationCanceledException or RpcException or HeadsUnavailableException or DemoFailure)
                {
                    // A call cut short by the stop fails in its own words; the reason is the stop.
                    report.Failure = Interrupted;
                }
                catch (Exception e) when (e is DemoFailure or HeadsUnavailableException or IOException or InvalidOperationException or GraphFileException)
                {
                    report.Failure = e.Message;
                }
                catch (RpcException e)
                {
                    report.Failure = CliFailure.Describe(e);
                }

                if (!settings.Json && report.Builds.Count > 0)
                {
                    // After a failure too: the rows so far say how far it came.
                    await stdout.WriteLineAsync().ConfigureAwait(false);
                    await stdout.WriteAsync(DemoOutput.Summary(report, HumanOutput.ForStdout())).ConfigureAwait(false);
                }

                narrator.Say($"stopping the cluster ({cluster.Plan.Workers} workers, then 3 heads)");
            }
        }
        catch (Exception e) when (e is DemoFailure or InvalidOperationException)
        {
            // The cluster could not even be planned (no free ports, a port taken).
            report.Failure = e.Message;
        }
        finally
        {
            report.Kept = settings.Keep;
            if (!settings.Keep)
            {
                await RemoveAsync(directory, stderr).ConfigureAwait(false);
                if (workerRoot is not null && !workerRoot.StartsWith(directory + "/", StringComparison.Ordinal))
                {
                    await RemoveAsync(workerRoot, stderr).ConfigureAwait(false);
                }
            }
        }

        if (settings.Json)
        {
            await stdout.WriteLineAsync(DemoOutput.Json(report)).ConfigureAwait(false);
        }
        else
        {
            narrator.Say(settings.Keep ? $"kept {directory} (cluster.log: the cluster's output)" : $"removed {directory}");
        }

        if (report.Failure is { } failure)
        {
            // The cluster's log exists once the cluster was planned; it holds nothing about an interruption.
            var hint = failure == Interrupted || workerRoot is null ? "" : settings.Keep ? $"; the cluster's output is in {Path.Combine(directory, "cluster.log")}" : "; run with --keep to keep the cluster's output";
            await stderr.WriteLineAsync($"rh: demo failed: {failure}{hint}").ConfigureAwait(false);
            return CliFailure.ExitFailure;
        }

        return 0;
    }

    private static async Task ShowAsync(DemoCluster cluster, DemoReport report, DemoNarrator narrator, string directory, CancellationToken cancellationToken)
    {
        var plan = cluster.Plan;
        report.Heads = plan.HeadEndpoints;
        report.Workers = plan.Workers;
        narrator.Say($"rh demo: starting 3 heads ({string.Join(", ", plan.HeadEndpoints)}) and {plan.Workers} workers in {directory}");
        var project = await DemoProject.ExtractAsync(directory, cancellationToken).ConfigureAwait(false);
        var graph = DemoProject.Graph(project);

        var started = Stopwatch.GetTimestamp();
        var firstLeader = await cluster.StartAsync(cancellationToken).ConfigureAwait(false);
        report.FirstLeader = firstLeader;
        report.ReadyMs = (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        narrator.Say(string.Create(CultureInfo.InvariantCulture, $"cluster ready in {DemoOutput.Seconds(report.ReadyMs.Value)}: head {firstLeader} leads, {plan.Workers} workers registered"));

        using var channels = new GrpcChannels(HeadConnection.ChannelSettings);
        // The leader first: the watch of the first build is on the head that will be killed, so it must resume elsewhere.
        var endpoints = plan.HeadEndpoints.OrderBy(e => e == cluster.Endpoint(firstLeader) ? 0 : 1).ToList();
        var heads = new HeadConnection(endpoints, channels);

        narrator.Say($"build 1 (cold): {DemoProject.Name}, {graph.Nodes.Count} steps from its make output; the leader is killed once a step runs");
        var cold = await ColdBuildAsync(cluster, channels, heads, graph, report, narrator, cancellationToken).ConfigureAwait(false);
        narrator.Say(BuildLine(1, cold.Facts), cold.Facts.Complete ? Color.Green : Color.Red);
        if (!cold.Facts.Complete)
        {
            throw new DemoFailure($"build 1 (cold) did not complete: {Unfinished(cold.Facts, cold.Final)}");
        }

        if (report.LeaderChange is null)
        {
            throw new DemoFailure("build 1 finished before any step was seen running, so the leader was not killed during it");
        }

        narrator.Say("build 2 (warm): the same steps again, as a new graph");
        var warm = await BuildAsync(heads, graph, "warm", null, narrator, cancellationToken).ConfigureAwait(false);
        report.Builds.Add(warm.Facts);
        narrator.Say(BuildLine(2, warm.Facts), warm.Facts.Complete && warm.Facts.Cached == warm.Facts.Nodes ? Color.Green : Color.Red);
        if (!warm.Facts.Complete)
        {
            throw new DemoFailure($"build 2 (warm) did not complete: {Unfinished(warm.Facts, warm.Final)}");
        }

        if (warm.Facts.Cached != warm.Facts.Nodes)
        {
            throw new DemoFailure(string.Create(CultureInfo.InvariantCulture, $"build 2 (warm) was not all cache hits: {warm.Facts.Ran} of {warm.Facts.Nodes} nodes ran again"));
        }

        var program = await RunProgramAsync(heads, warm.Final, directory, cancellationToken).ConfigureAwait(false);
        report.Program = program;
        narrator.Say($"./{DemoProject.ProgramOutput} ({Humanize.Bytes(program.SizeBytes)}, fetched from the CAS) prints: {program.Output}", program.ExitCode == 0 ? Color.Green : Color.Red);
        if (report.LeaderChange is { } change)
        {
            change.RestartedPid = cluster.RestartedPid(DemoCluster.ChildName(change.Killed), change.KilledPid);
        }

        if (program.ExitCode != 0)
        {
            throw new DemoFailure(string.Create(CultureInfo.InvariantCulture, $"{DemoProject.ProgramOutput} exited with code {program.ExitCode}"));
        }
    }

    /// <summary>Build 1, with the leader killed once the watch shows a node running, and the election timed.</summary>
    private static async Task<(BuildFacts Facts, GraphStatus Final)> ColdBuildAsync(
        DemoCluster cluster, GrpcChannels channels, HeadConnection heads, ResolvedGraph graph, DemoReport report, DemoNarrator narrator, CancellationToken cancellationToken)
    {
        var running = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var stopBuild = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var build = BuildAsync(
            heads, graph, "cold", change =>
            {
                if (change.Node is { Phase: GraphNodePhase.Running } node)
                {
                    running.TrySetResult(node.Id);
                }
            },
            narrator, stopBuild.Token);
        try
        {
            if (await Task.WhenAny(running.Task, build).ConfigureAwait(false) == running.Task)
            {
                var step = await running.Task.ConfigureAwait(false);
                var (leader, pid) = await cluster.KillLeaderAsync(channels, cancellationToken).ConfigureAwait(false);
                var killedAt = Stopwatch.GetTimestamp();
                narrator.Say(string.Create(CultureInfo.InvariantCulture, $"killed the leader, head {leader.NodeId} (kill -9 of pid {pid}), while {step} was running"), Color.Yellow);
                var (next, electionMs) = await cluster.WaitForNewLeaderAsync(channels, leader, killedAt, ElectionBound, cancellationToken).ConfigureAwait(false);
                report.LeaderChange = new LeaderChange(leader.NodeId, pid, step, leader.Term, next.NodeId, next.Term, electionMs);
                narrator.Say(string.Create(CultureInfo.InvariantCulture, $"head {next.NodeId} elected leader {electionMs} ms after the kill (term {next.Term}); the build carries on"), Color.Yellow);
            }
        }
        catch
        {
            await stopBuild.CancelAsync().ConfigureAwait(false);
            try
            {
                await build.ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or RpcException or HeadsUnavailableException or DemoFailure or IOException)
            {
                // Stopped for the failure being thrown, which is the one to report.
            }

            throw;
        }

        var result = await build.ConfigureAwait(false);
        report.Builds.Add(result.Facts);
        return result;
    }

    private static async Task<(BuildFacts Facts, GraphStatus Final)> BuildAsync(
        HeadConnection heads, ResolvedGraph graph, string name, Action<GraphEvent>? onEvent, DemoNarrator narrator, CancellationToken cancellationToken)
    {
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bound.CancelAfter(BuildBound);
        var progress = narrator.Progress();
        try
        {
            return await DemoBuild.RunAsync(heads, graph, name, $"{DemoProject.Name}-{name}", progress, onEvent, bound.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or RpcException && bound.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new DemoFailure($"build {name} did not finish within {BuildBound.TotalSeconds:0} s");
        }
        finally
        {
            narrator.Release();
        }
    }

    /// <summary>Fetches the linked program from the CAS (as the build left it in the action cache), then runs it.</summary>
    private static async Task<ProgramRun> RunProgramAsync(HeadConnection heads, GraphStatus final, string directory, CancellationToken cancellationToken)
    {
        var node = final.Nodes.FirstOrDefault(n => n.Id == DemoProject.ProgramNode)
            ?? throw new DemoFailure($"the graph has no node '{DemoProject.ProgramNode}'");
        var output = node.Result?.OutputFiles.FirstOrDefault(f => f.Path == DemoProject.ProgramOutput)
            ?? throw new DemoFailure($"node '{DemoProject.ProgramNode}' left no output '{DemoProject.ProgramOutput}'");
        var digest = Digests.ToResourceString(output.Digest);
        var path = Path.Combine(directory, DemoProject.ProgramOutput);
        var stream = await new RemoteBlobStore(heads).OpenReadAsync(final.InstanceName, output.Digest, 0, 0, cancellationToken).ConfigureAwait(false)
            ?? throw new DemoFailure($"the CAS has no {digest} ({DemoProject.ProgramOutput})");
        await using (stream.ConfigureAwait(false))
        {
            var file = File.Create(path);
            await using (file.ConfigureAwait(false))
            {
                await stream.CopyToAsync(file, cancellationToken).ConfigureAwait(false);
            }
        }

        File.SetUnixFileMode(path, UpCommand.Searchable);
        var start = new ProcessStartInfo(path) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = directory };
        using var process = Process.Start(start) ?? throw new DemoFailure($"{path} did not start");
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bound.CancelAfter(ProgramBound);
        try
        {
            await process.WaitForExitAsync(bound.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill();
            await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            throw new DemoFailure($"{DemoProject.ProgramOutput} did not exit within {ProgramBound.TotalSeconds:0} s; killed it");
        }

        var printed = (await stdout.ConfigureAwait(false)).TrimEnd('\n');
        var complaint = (await stderr.ConfigureAwait(false)).Trim();
        return new ProgramRun(digest, output.Digest.SizeBytes, process.ExitCode, printed.Length > 0 || complaint.Length == 0 ? printed : complaint);
    }

    private static string BuildLine(int number, BuildFacts build)
    {
        var resumed = build.WatchResumes > 0 ? string.Create(CultureInfo.InvariantCulture, $"; the watch resumed {build.WatchResumes}x, ending on {build.WatchedLast}") : "";
        return string.Create(
            CultureInfo.InvariantCulture,
            $"build {number} ({build.Name}): {build.Ran} of {build.Nodes} nodes ran, {build.Cached} cached ({DemoOutput.Percent(build.CacheHitRatio)} cache hits) in {DemoOutput.Seconds(build.WallMs)}; uploaded {build.Uploaded} of {build.Blobs} input blobs{resumed}");
    }

    /// <summary>What kept a build from completing: the counts, and the first failed node's reason.</summary>
    private static string Unfinished(BuildFacts build, GraphStatus final)
    {
        var failed = final.Nodes.FirstOrDefault(n => n.Phase == GraphNodePhase.Failed && n.Failure.Length > 0);
        return string.Create(CultureInfo.InvariantCulture, $"{build.Failed} failed, {build.Cancelled} cancelled of {build.Nodes}")
            + (failed is null ? "" : $"; {failed.Id}: {failed.Failure}");
    }

    private static async Task RemoveAsync(string path, TextWriter stderr)
    {
        try
        {
            if (Directory.Exists(path))
            {
                Directory.Delete(path, recursive: true);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            await stderr.WriteLineAsync($"rh: could not remove {path}: {e.Message}").ConfigureAwait(false);
        }
    }
}
