using System.Net.Sockets;
using Build.Bazel.Remote.Execution.V2;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using RaftHead.Protocol.V1;

namespace RaftHead.Cli.Tests;

/// <summary>Fixed answers a head could give, and a fixed now, so rendered output is the same on every run.</summary>
internal static class Samples
{
    public static readonly DateTimeOffset Now = new(2026, 3, 14, 15, 9, 26, TimeSpan.Zero);

    public static Timestamp Ago(TimeSpan before) => Timestamp.FromDateTimeOffset(Now - before);

    public static Platform Platform(params string[] pairs)
    {
        var platform = new Platform();
        foreach (var pair in pairs)
        {
            var at = pair.IndexOf('=', StringComparison.Ordinal);
            platform.Properties.Add(new Platform.Types.Property { Name = pair[..at], Value = pair[(at + 1)..] });
        }

        return platform;
    }

    public static Digest Digest(char fill, long size) => new() { Hash = new string(fill, 64), SizeBytes = size };

    /// <summary>A leader's answer with one worker of each state.</summary>
    public static GetNodeStatusResponse Leader(long id = 2, string address = "127.0.0.1:8981")
    {
        var status = new GetNodeStatusResponse
        {
            NodeId = id,
            Address = address,
            Pid = 4102,
            StartedAt = Ago(TimeSpan.FromMinutes(192)),
            Role = NodeRole.Leader,
            Term = 9,
            LeaderId = id,
            LeaderAddress = address,
            CommitIndex = 1_204,
            AppliedIndex = 1_204,
            LastIndex = 1_206,
            Queued = 7,
            Leased = 5,
            HeartbeatIntervalMs = 1_000,
            HeartbeatTtlMs = 10_000,
        };
        status.Members.Add(new ClusterMember { Id = 1, Address = "127.0.0.1:8980", Voter = true });
        status.Members.Add(new ClusterMember { Id = 2, Address = "127.0.0.1:8981", Voter = true });
        status.Members.Add(new ClusterMember { Id = 3, Address = "127.0.0.1:8982", Voter = true });
        status.Workers.Add(new WorkerStatus
        {
            WorkerId = "build-01",
            Slots = 8,
            Leased = 4,
            LastHeartbeatAgeMs = 420,
            Platform = Platform("OSFamily=linux", "pool=default"),
            CpuMillis = 16_000,
            CpuMillisLeased = 4_000,
            MemoryBytes = 64L << 30,
            MemoryBytesLeased = 6L << 30,
            RegisteredAt = Ago(TimeSpan.FromHours(26)),
        });
        status.Workers.Add(new WorkerStatus
        {
            WorkerId = "gpu-01",
            Slots = 2,
            Leased = 3,
            LeaseAhead = 1,
            LastHeartbeatAgeMs = 900,
            Retiring = true,
            Platform = Platform("OSFamily=linux", "pool=gpu"),
            Gpus = 4,
            MemoryBytes = 512L << 20,
        });
        status.Workers.Add(new WorkerStatus { WorkerId = "build-02", Slots = 4, Leased = 1, LastHeartbeatAgeMs = 7_250, Platform = Platform("OSFamily=linux") });
        status.Workers.Add(new WorkerStatus { WorkerId = "build-03", Slots = 4 });
        status.Workers.Add(new WorkerStatus
        {
            WorkerId = "build-04",
            Slots = 4,
            LastHeartbeatAgeMs = 610,
            Platform = Platform("OSFamily=linux"),
            QuarantineReason = "outputs differ from other workers'",
            QuarantinedAt = Ago(TimeSpan.FromMinutes(12)),
        });
        status.Speculation = Speculation();
        status.Queues.Add(new QueueDepth { PlatformKey = "OSFamily=linux", Priority = -1, Depth = 2 });
        status.Queues.Add(new QueueDepth { PlatformKey = "OSFamily=linux,pool=gpu", Priority = 0, Depth = 5 });
        return status;
    }

    /// <summary>Six clones, two of which won; four reports of three actions whose runs disagreed, oldest first (the second found by a verification run).</summary>
    public static SpeculationStatus Speculation()
    {
        var speculation = new SpeculationStatus { ClonesStarted = 6, ClonesWon = 2, WastedWorkerMs = 94_500 };
        speculation.Nondeterminism.Add(Report("operations/7f3a-3", '5', "cc", TimeSpan.FromMinutes(50), "out/a.o"));
        var verified = Report("operations/7f3a-5", '6', "", TimeSpan.FromMinutes(20), "(exit code)");
        verified.VerifiedBy = "operations/7f3a-6";
        speculation.Nondeterminism.Add(verified);
        speculation.Nondeterminism.Add(Report("operations/7f3a-7", '5', "cc", TimeSpan.FromMinutes(9), "out/a.o", "out/b.o", "out/c.o", "out/d.o", "out/e.o"));
        speculation.Nondeterminism.Add(Report("operations/7f3a-9", '7', "link", TimeSpan.FromSeconds(90), "out/app"));
        return speculation;
    }

    private static NondeterminismReport Report(string operation, char digest, string actionClass, TimeSpan ago, params string[] paths)
    {
        var report = new NondeterminismReport
        {
            OperationName = operation,
            ActionDigest = Digest(digest, 140),
            ActionClass = actionClass,
            WinnerAttempt = 1,
            WinnerWorkerId = "build-01",
            OtherAttempt = 2,
            OtherWorkerId = "build-04",
            AtUnixMs = (Now - ago).ToUnixTimeMilliseconds(),
        };
        foreach (var path in paths)
        {
            report.Differences.Add(new OutputDifference { Path = path, Winner = new string('1', 64) + "/10", Other = new string('2', 64) + "/10" });
        }

        return report;
    }

    public static GetNodeStatusResponse Follower(long id, string address, long applied)
    {
        var status = Leader();
        status.NodeId = id;
        status.Address = address;
        status.Pid = 4100 + (int)id;
        status.Role = NodeRole.Follower;
        status.AppliedIndex = applied;
        status.CommitIndex = applied;
        status.StartedAt = Ago(TimeSpan.FromSeconds(42));
        foreach (var worker in status.Workers)
        {
            worker.ClearLastHeartbeatAgeMs();
        }

        return status;
    }

    /// <summary>Leader 2 and follower 1 answered; member 3 refused the connection.</summary>
    public static ClusterView ThreeHeadsOneDown()
    {
        var answers = new Dictionary<string, GetNodeStatusResponse>(StringComparer.Ordinal)
        {
            ["127.0.0.1:8980"] = Follower(1, "127.0.0.1:8980", applied: 1_190),
            ["127.0.0.1:8981"] = Leader(),
        };
        var refused = new RpcException(new Status(StatusCode.Unavailable, "Error connecting to subchannel.", new SocketException((int)SocketError.ConnectionRefused)));
        var errors = new Dictionary<string, RpcException>(StringComparer.Ordinal) { ["127.0.0.1:8982"] = refused };
        return new ClusterView(answers, errors);
    }

    public static OperationSummary Operation(long index, ExecutionStage.Types.Value stage, char digest)
    {
        var op = new OperationSummary
        {
            Name = $"operations/7f3a-{index}",
            ActionDigest = Digest(digest, 142 + index),
            Stage = stage,
            QueuedAt = Ago(TimeSpan.FromSeconds(300 - index)),
            ToolInvocationId = "build-1",
        };
        return op;
    }

    /// <summary>One operation in each state: queued, running, done from the cache, failed with exit 1, dead after three lost attempts, cancelled.</summary>
    public static ListOperationsResponse Operations()
    {
        var response = new ListOperationsResponse { ExecutionEnabled = true, Queued = 1, Running = 1, Slots = 18 };

        var queued = Operation(16, ExecutionStage.Types.Value.Queued, 'a');
        queued.Attempts = 0;

        var running = Operation(15, ExecutionStage.Types.Value.Executing, 'b');
        running.Attempts = 2;
        running.Worker = "build-01";
        running.StartedAt = Ago(TimeSpan.FromSeconds(75));
        running.Clones = 1;
        running.Failures.Add(new AttemptFailure { Attempt = 1, WorkerId = "build-02", Reason = "worker build-02 declared dead: no heartbeat for 10250 ms (TTL 10000 ms)", EndedAt = Ago(TimeSpan.FromSeconds(80)) });

        var cached = Operation(14, ExecutionStage.Types.Value.Completed, 'c');
        cached.CachedResult = true;
        cached.StatusCode = 0;
        cached.ExitCode = 0;
        cached.CompletedAt = Ago(TimeSpan.FromSeconds(200));

        var failed = Operation(13, ExecutionStage.Types.Value.Completed, 'd');
        failed.Attempts = 1;
        failed.Worker = "build-01";
        failed.StartedAt = Ago(TimeSpan.FromSeconds(250));
        failed.CompletedAt = Ago(TimeSpan.FromSeconds(248.6));
        failed.StatusCode = 0;
        failed.ExitCode = 1;
        failed.Clones = 1;
        failed.CloneWon = true;

        var dead = Operation(12, ExecutionStage.Types.Value.Completed, 'e');
        dead.Attempts = 3;
        dead.Worker = "build-03";
        dead.DeadLettered = true;
        dead.StartedAt = Ago(TimeSpan.FromSeconds(100));
        dead.CompletedAt = Ago(TimeSpan.FromSeconds(40));
        dead.StatusCode = (int)StatusCode.Aborted;
        dead.StatusMessage = "operations/7f3a-12 gave up after 3 attempt(s)";
        dead.Failures.Add(new AttemptFailure { Attempt = 1, WorkerId = "build-02", Reason = "lease expired" });
        dead.Failures.Add(new AttemptFailure { Attempt = 2, WorkerId = "build-01", Reason = "sandbox setup failed: No space left on device" });
        dead.Failures.Add(new AttemptFailure { Attempt = 3, WorkerId = "build-03", Reason = "worker build-03 declared dead" });

        var cancelled = Operation(11, ExecutionStage.Types.Value.Completed, 'f');
        cancelled.Cancelled = true;
        cancelled.CompletedAt = Ago(TimeSpan.FromSeconds(280));
        cancelled.StatusCode = (int)StatusCode.Cancelled;
        cancelled.StatusMessage = "cancelled by the client";

        response.Operations.Add(new[] { queued, running, cached, failed, dead, cancelled });
        return response;
    }

    public static GetCacheStatsResponse CacheStats()
    {
        var response = new GetCacheStatsResponse
        {
            MaxBytes = 10L << 30,
            Total = new CacheStats { Hits = 1_754, Misses = 240, Incomplete = 6, Blobs = 48_210, Bytes = 3_612_345_678, Evictions = 12, ActionResults = 1_990 },
        };
        response.Instances.Add(new CacheStats { InstanceName = "", Hits = 1_750, Misses = 200, Incomplete = 6, Blobs = 48_000, Bytes = 3_600_000_000, Evictions = 12, ActionResults = 1_956 });
        response.Instances.Add(new CacheStats { InstanceName = "ci", Hits = 4, Misses = 40, Blobs = 210, Bytes = 12_345_678, ActionResults = 34, Corrupt = 1 });
        return response;
    }

    public static ActionResult CachedResult()
    {
        var result = new ActionResult
        {
            ExitCode = 0,
            StdoutDigest = Digest('1', 2_300),
            StderrRaw = Google.Protobuf.ByteString.CopyFromUtf8("warning: unused variable\n"),
            ExecutionMetadata = new ExecutedActionMetadata { Worker = "build-01" },
        };
        result.OutputFiles.Add(new OutputFile { Path = "out/server.o", Digest = Digest('2', 1_572_864) });
        result.OutputFiles.Add(new OutputFile { Path = "out/redis-server", Digest = Digest('3', 9_437_184), IsExecutable = true });
        result.OutputDirectories.Add(new OutputDirectory { Path = "out/include", TreeDigest = Digest('4', 512) });
        result.OutputSymlinks.Add(new OutputSymlink { Path = "out/latest", Target = "redis-server" });
        return result;
    }
}
