using System.Globalization;
using Build.Bazel.Remote.Execution.V2;
using Google.LongRunning;
using Google.Protobuf;
using Grpc.Core;
using RaftHead.Protocol;
using RaftHead.Protocol.Client;
using RaftHead.Protocol.V1;
using RaftHead.Testing;
using Xunit.Abstractions;
using AdminListRequest = RaftHead.Protocol.V1.ListOperationsRequest;
using AdminListResponse = RaftHead.Protocol.V1.ListOperationsResponse;
using ReapiAction = Build.Bazel.Remote.Execution.V2.Action;
using ReapiDirectory = Build.Bazel.Remote.Execution.V2.Directory;
using Stage = Build.Bazel.Remote.Execution.V2.ExecutionStage.Types.Value;

namespace RaftHead.IntegrationTests.Cluster;

/// <summary>
/// Faults that land while an action runs on a real cluster (<c>rh up</c>): the action holds at a gate the test opens,
/// so the fault lands mid-run, and it logs each start and end with its shell's pid to a file outside the sandbox, so
/// a second run shows.
/// </summary>
[Collection(RhUpCluster.Collection)]
public sealed class WorkerFaultTests(ITestOutputHelper output)
{
    /// <summary>Each awaited step: covers a worker's heartbeat TTL (10 s), an election and a restart on a loaded machine.</summary>
    private static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(60);

    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);

    [Fact(Timeout = 240_000)]
    public async Task Kill_9_of_the_worker_running_an_action_requeues_it_when_its_heartbeats_stop_and_the_other_worker_completes_it_once()
    {
        using var temp = new TempDirectory();
        var action = GatedAction.In(temp, 7);
        await using var cluster = await RhUpCluster.StartAsync(temp.Path, workers: 2, slots: 1, restart: false);
        using var channels = new GrpcChannels(new GrpcChannelSettings { RetryAttemptsMax = 3 });
        try
        {
            var digest = await action.UploadAsync(new ReapiClients(channels.For(cluster.Heads[0])));
            using var cts = new CancellationTokenSource(StepTimeout * 2);
            var execute = GatedAction.ExecuteAsync(channels, cluster.Heads, 0, digest, cts.Token);

            var first = (await action.WaitForStartsAsync(1, execute)).Single();
            var running = await WaitForOperationAsync(channels, cluster, digest, o => o.Stage == Stage.Executing && o.Worker.Length > 0, "executing on a worker");
            var killedId = running.Worker;
            var killedPid = cluster.WorkerProcessId(killedId);
            var upLine = cluster.Up.LineCount;
            Assert.True(PosixSignals.KillNow(killedPid), $"could not kill pid {killedPid} of worker {killedId}");
            await cluster.Up.WaitForLineAsync(l => l.Contains(" | exited with code ", StringComparison.Ordinal) && l.EndsWith($"(pid {killedPid})", StringComparison.Ordinal), StepTimeout, upLine);
            var orphaned = PosixSignals.IsRunning(first.Pid);

            // Held at the gate, the first run cannot end; a second start is the head's requeue, placed on the survivor.
            var second = (await action.WaitForStartsAsync(2, execute))[1];
            var rerun = await WaitForOperationAsync(channels, cluster, digest, o => o.Stage == Stage.Executing && o.Worker.Length > 0 && o.Worker != killedId, "executing on the other worker");
            var survivorId = rerun.Worker;
            action.Open();
            var (response, names) = await execute;

            Assert.Equal(0, response.Status?.Code ?? 0);
            Assert.Equal(0, response.Result.ExitCode);
            Assert.Equal(survivorId, response.Result.ExecutionMetadata.Worker);
            Assert.False(response.CachedResult);
            await AssertOutputAsync(channels, cluster.Heads[1], response.Result, "7\n");
            var operationName = names[^1];

            var operations = await WaitForCompletedAsync(channels, cluster.Heads, digest);
            var operation = Assert.Single(operations);
            Assert.Equal(operationName, operation.Name);
            Assert.Equal(survivorId, operation.Worker);
            Assert.False(operation.CachedResult);
            Assert.Equal(0, operation.StatusCode);
            Assert.Equal(0, operation.ExitCode);
            var cached = await ActionCacheResultAsync(channels, cluster.Heads, digest);
            Assert.Equal(survivorId, cached.ExecutionMetadata.Worker);
            Assert.Equal(response.Result.OutputFiles.Single().Digest, cached.OutputFiles.Single().Digest);

            // The run log: one run held at the gate when its worker died, one on the survivor that ended once.
            var (starts, ends) = action.Runs();
            Assert.Equal([first.Pid, second.Pid], starts);
            Assert.Equal(1, ends.Count(p => p == second.Pid));

            // The head's record: the dead worker's lease went back to the queue once, and only attempt 2 completed. The
            // worker logs its report once the head has answered it, which may be after the client saw the result.
            await cluster.Up.WaitForLineAsync(l => l.Contains($" completed {operationName} ", StringComparison.Ordinal), StepTimeout);
            await cluster.Up.WaitForLineAsync(l => l.Contains($"Worker {killedId} declared dead after ", StringComparison.Ordinal), StepTimeout);
            var log = cluster.Up.Log.Split('\n');
            Assert.Single(log, l => l.Contains($"Worker {killedId} declared dead after ", StringComparison.Ordinal) && l.Contains("; 1 operations requeued", StringComparison.Ordinal));
            Assert.Single(log, l => l.Contains($"Worker {killedId} runs {operationName} attempt 1 ", StringComparison.Ordinal));
            Assert.Single(log, l => l.Contains($"Worker {survivorId} runs {operationName} attempt 2 ", StringComparison.Ordinal));
            Assert.Equal(2, log.Count(l => l.Contains($" runs {operationName} ", StringComparison.Ordinal)));
            Assert.Single(log, l => l.Contains($" completed {operationName} ", StringComparison.Ordinal));
            Assert.Single(log, l => l.Contains($"Worker {survivorId} completed {operationName} attempt 2: exit 0, status OK", StringComparison.Ordinal) && !l.Contains("not accepted", StringComparison.Ordinal));

            output.WriteLine($"worker {killedId} (pid {killedPid}) killed while it ran {operationName} (shell pid {first.Pid}); after its death that shell was {(orphaned ? "still running" : "gone")}; worker {survivorId} ran it again (shell pid {second.Pid}); run log ends: {string.Join(',', ends)}");
        }
        catch
        {
            output.WriteLine(cluster.Up.Log);
            throw;
        }
        finally
        {
            action.Open();
            action.KillRunsStillRunning();
        }
    }

    [Fact(Timeout = 240_000)]
    public async Task A_worker_keeps_its_running_action_through_kill_9_of_the_leader_and_its_result_is_committed_once()
    {
        using var temp = new TempDirectory();
        var action = GatedAction.In(temp, 11);
        await using var cluster = await RhUpCluster.StartAsync(temp.Path, workers: 2, slots: 1);
        using var channels = new GrpcChannels(new GrpcChannelSettings { RetryAttemptsMax = 3 });
        try
        {
            // The client talks to a follower, so its stream need not break when the leader dies.
            var follower = (int)(cluster.LeaderAtStart % 3);
            var digest = await action.UploadAsync(new ReapiClients(channels.For(cluster.Heads[follower])));
            using var cts = new CancellationTokenSource(StepTimeout * 2);
            var execute = GatedAction.ExecuteAsync(channels, cluster.Heads, follower, digest, cts.Token);

            var start = (await action.WaitForStartsAsync(1, execute)).Single();
            var running = await WaitForOperationAsync(channels, cluster, digest, o => o.Stage == Stage.Executing && o.Worker.Length > 0, "executing on a worker");
            var workerId = running.Worker;
            var (killed, killedPid) = await cluster.KillLeaderAsync(channels);

            // Held until a new leader has heard the worker: the action runs through the whole change of leader, and the
            // new leader's first judgement of its workers.
            var newLeader = await WaitForLeaderHearingAsync(channels, cluster.Heads, killedPid, workerId);
            action.Open();
            var (response, names) = await execute;

            Assert.Equal(0, response.Status?.Code ?? 0);
            Assert.Equal(0, response.Result.ExitCode);
            Assert.Equal(workerId, response.Result.ExecutionMetadata.Worker);
            Assert.False(response.CachedResult);
            var survivors = cluster.Heads.Where((_, i) => i + 1 != killed).ToList();
            await AssertOutputAsync(channels, survivors[0], response.Result, "11\n");
            var operationName = names[^1];

            var operations = await WaitForCompletedAsync(channels, survivors, digest);
            var operation = Assert.Single(operations);
            Assert.Equal(operationName, operation.Name);
            Assert.Equal(workerId, operation.Worker);
            Assert.False(operation.CachedResult);
            Assert.Equal(0, operation.StatusCode);
            var cached = await ActionCacheResultAsync(channels, survivors, digest);
            Assert.Equal(workerId, cached.ExecutionMetadata.Worker);
            Assert.Equal(response.Result.OutputFiles.Single().Digest, cached.OutputFiles.Single().Digest);

            // One run, ended once; the worker ran and reported attempt 1 only, and no head took its lease away.
            var (starts, ends) = action.Runs();
            Assert.Equal([start.Pid], starts);
            Assert.Equal([start.Pid], ends);
            await cluster.Up.WaitForLineAsync(l => l.Contains($" completed {operationName} ", StringComparison.Ordinal), StepTimeout);
            var log = cluster.Up.Log.Split('\n');
            var ran = Assert.Single(log, l => l.Contains($" runs {operationName} ", StringComparison.Ordinal));
            Assert.Contains($"Worker {workerId} runs {operationName} attempt 1 ", ran, StringComparison.Ordinal);
            var completed = Assert.Single(log, l => l.Contains($" completed {operationName} ", StringComparison.Ordinal));
            Assert.Contains($"Worker {workerId} completed {operationName} attempt 1: exit 0, status OK", completed, StringComparison.Ordinal);
            Assert.DoesNotContain(log, l => l.Contains($"Worker {workerId} declared dead", StringComparison.Ordinal) || l.Contains($"Operation {operationName} lease", StringComparison.Ordinal) || l.Contains($" failed {operationName} ", StringComparison.Ordinal));

            output.WriteLine($"leader head {killed} (pid {killedPid}) killed while worker {workerId} ran {operationName}; head {newLeader} leads now; client operation names {string.Join(',', names)}; worker's report: {completed.Trim()}");
        }
        catch
        {
            output.WriteLine(cluster.Up.Log);
            throw;
        }
        finally
        {
            action.Open();
            action.KillRunsStillRunning();
        }
    }

    /// <summary>The id of a leader (not the process killed, but perhaps its restart) once it has heard from the worker since it took over.</summary>
    private static async Task<long> WaitForLeaderHearingAsync(GrpcChannels channels, IReadOnlyList<string> heads, int killedPid, string workerId)
    {
        var seen = "no head answered";
        var deadline = DateTime.UtcNow + StepTimeout;
        while (DateTime.UtcNow < deadline)
        {
            foreach (var head in heads)
            {
                try
                {
                    var status = await new ReapiClients(channels.For(head)).Admin.GetNodeStatusAsync(new GetNodeStatusRequest(), deadline: DateTime.UtcNow.AddSeconds(5));
                    if (status.Role == NodeRole.Leader && status.Pid != killedPid)
                    {
                        if (status.Workers.Any(w => w.WorkerId == workerId && w.HasLastHeartbeatAgeMs))
                        {
                            return status.NodeId;
                        }

                        seen = $"head {status.NodeId} leads in term {status.Term} and has not heard worker {workerId} yet";
                    }
                }
                catch (RpcException)
                {
                    // Down or busy electing; the others are asked.
                }
            }

            await Task.Delay(PollInterval);
        }

        throw new TimeoutException($"no new leader heard worker {workerId} within {StepTimeout.TotalSeconds:F0} s: {seen}");
    }

    /// <summary>The operations listed for the action on the first head that lists one finished (a lagging follower may still show it running).</summary>
    private static async Task<List<OperationSummary>> WaitForCompletedAsync(GrpcChannels channels, IReadOnlyList<string> heads, Digest digest)
    {
        List<OperationSummary>? last = null;
        var deadline = DateTime.UtcNow + StepTimeout;
        while (DateTime.UtcNow < deadline)
        {
            foreach (var head in heads)
            {
                var listed = await TryListAsync(channels, head);
                last = listed?.Operations.Where(o => o.ActionDigest.Hash == digest.Hash).ToList() ?? last;
                if (listed is not null && last!.Count > 0 && last.All(o => o.Stage == Stage.Completed))
                {
                    return last;
                }
            }

            await Task.Delay(PollInterval);
        }

        throw new TimeoutException($"no head listed the action's operations completed within {StepTimeout.TotalSeconds:F0} s; last seen: {string.Join("; ", last ?? [])}");
    }

    /// <summary>The action's operation once a head lists it as <paramref name="what"/>.</summary>
    private static async Task<OperationSummary> WaitForOperationAsync(GrpcChannels channels, RhUpCluster cluster, Digest digest, Func<OperationSummary, bool> match, string what)
    {
        var seen = new List<string>();
        var deadline = DateTime.UtcNow + StepTimeout;
        while (DateTime.UtcNow < deadline)
        {
            foreach (var head in cluster.Heads)
            {
                var listed = await TryListAsync(channels, head);
                foreach (var operation in listed?.Operations.Where(o => o.ActionDigest.Hash == digest.Hash) ?? [])
                {
                    if (match(operation))
                    {
                        return operation;
                    }

                    seen.Add($"{head}: {operation.Name} {operation.Stage} worker={operation.Worker}");
                }
            }

            await Task.Delay(PollInterval);
        }

        throw new TimeoutException($"no head listed the action's operation {what} within {StepTimeout.TotalSeconds:F0} s; seen: {string.Join("; ", seen.Distinct().TakeLast(10))}");
    }

    private static async Task<AdminListResponse?> TryListAsync(GrpcChannels channels, string head)
    {
        try
        {
            return await new ReapiClients(channels.For(head)).Admin.ListOperationsAsync(new AdminListRequest(), deadline: DateTime.UtcNow.AddSeconds(5));
        }
        catch (RpcException)
        {
            return null;
        }
    }

    private static async Task<ActionResult> ActionCacheResultAsync(GrpcChannels channels, IReadOnlyList<string> heads, Digest digest)
    {
        var deadline = DateTime.UtcNow + StepTimeout;
        var errors = new List<string>();
        while (DateTime.UtcNow < deadline)
        {
            foreach (var head in heads)
            {
                try
                {
                    return await new ReapiClients(channels.For(head)).ActionCache.GetActionResultAsync(new GetActionResultRequest { ActionDigest = digest }, deadline: DateTime.UtcNow.AddSeconds(5));
                }
                catch (RpcException e)
                {
                    errors.Add($"{head}: {e.StatusCode}");
                }
            }

            await Task.Delay(PollInterval);
        }

        throw new TimeoutException($"no head answered the action's cached result within {StepTimeout.TotalSeconds:F0} s: {string.Join(", ", errors.Distinct())}");
    }

    private static async Task AssertOutputAsync(GrpcChannels channels, string head, ActionResult result, string expected)
    {
        var file = Assert.Single(result.OutputFiles);
        Assert.Equal("out.txt", file.Path);
        var blob = (await new ReapiClients(channels.For(head)).Cas.BatchReadBlobsAsync(new BatchReadBlobsRequest { Digests = { file.Digest } })).Responses.Single();
        Assert.Equal(0, blob.Status.Code);
        Assert.Equal(expected, blob.Data.ToStringUtf8());
    }

    /// <summary>
    /// An action that logs "start PID" to a run log outside the sandbox, waits (bounded) for a gate file the test
    /// creates, writes N to out.txt and logs "end PID". Its command names the run log, so each test's action is new.
    /// </summary>
    private sealed class GatedAction
    {
        /// <summary>Polls of the gate, 100 ms apart, before the action gives up with exit code 3.</summary>
        private const int GatePollsMax = 1_800;

        private readonly string _runLog;
        private readonly string _gate;
        private readonly int _n;

        private GatedAction(string runLog, string gate, int n)
        {
            _runLog = runLog;
            _gate = gate;
            _n = n;
        }

        public static GatedAction In(TempDirectory temp, int n)
        {
            var runLog = LeaderKillTests.RunLogIn(temp);
            return new GatedAction(runLog, Path.Combine(Path.GetDirectoryName(runLog)!, "gate"), n);
        }

        private string Script =>
            $"echo start $$ >> {_runLog}; i=0; while [ ! -e {_gate} ]; do i=$((i+1)); [ $i -le {GatePollsMax} ] || exit 3; sleep 0.1; done; " +
            $"echo {_n} > out.txt && echo end $$ >> {_runLog}";

        public void Open() => File.WriteAllText(_gate, "");

        /// <summary>Uploads the action's blobs; returns its digest.</summary>
        public async Task<Digest> UploadAsync(ReapiClients clients)
        {
            var command = new Command
            {
                Arguments = { "/bin/sh", "-c", Script },
                OutputPaths = { "out.txt" },
                EnvironmentVariables = { new Command.Types.EnvironmentVariable { Name = "PATH", Value = "/usr/bin:/bin" } },
            };
            var commandBytes = command.ToByteString();
            var rootBytes = new ReapiDirectory().ToByteString();
            var action = new ReapiAction { CommandDigest = Digests.Compute(commandBytes.Span), InputRootDigest = Digests.Compute(rootBytes.Span) };
            var actionBytes = action.ToByteString();
            var digest = Digests.Compute(actionBytes.Span);
            var response = await clients.Cas.BatchUpdateBlobsAsync(new BatchUpdateBlobsRequest
            {
                Requests =
                {
                    new BatchUpdateBlobsRequest.Types.Request { Digest = action.CommandDigest, Data = commandBytes },
                    new BatchUpdateBlobsRequest.Types.Request { Digest = action.InputRootDigest, Data = rootBytes },
                    new BatchUpdateBlobsRequest.Types.Request { Digest = digest, Data = actionBytes },
                },
            });
            Assert.All(response.Responses, r => Assert.Equal(0, r.Status.Code));
            return digest;
        }

        /// <summary>
        /// Execute (skipping the cache) on heads[first]; when a head fails the call as Bazel would retry, the next head
        /// is asked to wait on the operation already named, else to execute again. Returns the done operation's
        /// response and every operation name the heads gave.
        /// </summary>
        public static async Task<(ExecuteResponse Response, List<string> Names)> ExecuteAsync(GrpcChannels channels, IReadOnlyList<string> heads, int first, Digest digest, CancellationToken cancellationToken)
        {
            var names = new List<string>();
            var failures = new List<string>();
            var head = first;
            for (var attempt = 0; attempt < 20; attempt++)
            {
                var clients = new ReapiClients(channels.For(heads[head]));
                try
                {
                    using var call = names.Count == 0
                        ? clients.Execution.Execute(new ExecuteRequest { ActionDigest = digest, SkipCacheLookup = true }, cancellationToken: cancellationToken)
                        : clients.Execution.WaitExecution(new WaitExecutionRequest { Name = names[^1] }, cancellationToken: cancellationToken);
                    while (await call.ResponseStream.MoveNext(cancellationToken))
                    {
                        var operation = call.ResponseStream.Current;
                        if (names.Count == 0 || names[^1] != operation.Name)
                        {
                            names.Add(operation.Name);
                        }

                        if (operation.Done)
                        {
                            Assert.Equal(Operation.ResultOneofCase.Response, operation.ResultCase);
                            return (operation.Response.Unpack<ExecuteResponse>(), names);
                        }
                    }

                    failures.Add($"{heads[head]}: the stream ended before the operation was done");
                }
                catch (RpcException e) when (e.StatusCode is StatusCode.Unavailable or StatusCode.Unknown or StatusCode.Internal or StatusCode.Aborted or StatusCode.Cancelled && !cancellationToken.IsCancellationRequested)
                {
                    failures.Add($"{heads[head]}: {e.StatusCode} {e.Status.Detail}");
                }

                head = (head + 1) % heads.Count;
                await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken);
            }

            throw new InvalidOperationException($"the action was not done after 20 calls: {string.Join("; ", failures)}");
        }

        /// <summary>The runs' start lines once there are at least <paramref name="count"/>; fails early if the execution ended first.</summary>
        public async Task<List<(int Pid, int Line)>> WaitForStartsAsync(int count, Task execution)
        {
            var deadline = DateTime.UtcNow + StepTimeout;
            while (true)
            {
                var (starts, _) = Runs();
                if (starts.Count >= count)
                {
                    return starts.Select((pid, line) => (pid, line)).ToList();
                }

                if (execution.IsCompleted)
                {
                    throw new InvalidOperationException($"the execution ended after {starts.Count} run start(s), before {count}: {(execution.IsFaulted ? execution.Exception : "done")}");
                }

                if (DateTime.UtcNow >= deadline)
                {
                    throw new TimeoutException($"the run log shows {starts.Count} run start(s), not {count}, after {StepTimeout.TotalSeconds:F0} s");
                }

                await Task.Delay(PollInterval);
            }
        }

        /// <summary>The shell pids of the run log's start lines and end lines, in order.</summary>
        public (List<int> Starts, List<int> Ends) Runs()
        {
            var starts = new List<int>();
            var ends = new List<int>();
            if (!File.Exists(_runLog))
            {
                return (starts, ends);
            }

            foreach (var line in File.ReadAllLines(_runLog))
            {
                var parts = line.Split(' ');
                if (parts.Length == 2 && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
                {
                    (parts[0] == "start" ? starts : ends).Add(pid);
                }
            }

            return (starts, ends);
        }

        /// <summary>A run whose worker died is nobody's child to stop; it is stopped here by its pid, whatever the test's outcome.</summary>
        public void KillRunsStillRunning()
        {
            var (starts, _) = Runs();
            foreach (var pid in starts)
            {
                if (PosixSignals.IsRunning(pid) && IsShell(pid))
                {
                    PosixSignals.KillNow(pid);
                }
            }
        }

        /// <summary>Guards against a reused pid: only a shell running this action's script is stopped.</summary>
        private bool IsShell(int pid)
        {
            try
            {
                return File.ReadAllText($"/proc/{pid}/cmdline").Contains(_gate, StringComparison.Ordinal);
            }
            catch (IOException)
            {
                return false;
            }
        }
    }
}
