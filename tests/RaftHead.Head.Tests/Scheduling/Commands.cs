using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Build.Bazel.Remote.Execution.V2;
using RaftHead.Head.Scheduling;
using RaftHead.Protocol.V1;

namespace RaftHead.Head.Tests.Scheduling;

/// <summary>Command records as a proposer would build them, with plain defaults a test overrides.</summary>
internal static class Commands
{
    public static Digest DigestOf(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        return new Digest { Hash = Convert.ToHexStringLower(SHA256.HashData(bytes)), SizeBytes = bytes.Length };
    }

    public static Platform Platform(params string[] pairs)
    {
        var platform = new Platform();
        foreach (var pair in pairs)
        {
            var cut = pair.IndexOf('=', StringComparison.Ordinal);
            platform.Properties.Add(new Platform.Types.Property { Name = pair[..cut], Value = pair[(cut + 1)..] });
        }

        return platform;
    }

    public static SchedulerCommand Submit(
        string requestId,
        string action = "a",
        long at = 1_000,
        string invocation = "inv",
        int priority = 0,
        Platform? platform = null,
        uint gpuMillis = 0,
        uint cpuMillis = 0,
        ulong memoryBytes = 0,
        bool doNotCache = false,
        bool skipCacheLookup = false,
        string seed = "") => Wrap(new SchedulerCommand
        {
            Submit = new SubmitAction
            {
                RequestId = requestId,
                OperationNameSeed = seed,
                SubmittedAtUnixMs = at,
                ToolInvocationId = invocation,
                ActionDigest = DigestOf(action),
                Platform = platform ?? new Platform(),
                Priority = priority,
                Resources = new ResourceRequest { GpuMillis = gpuMillis, CpuMillis = cpuMillis, MemoryBytes = memoryBytes },
                DoNotCache = doNotCache,
                SkipCacheLookup = skipCacheLookup,
            },
        });

    public static SchedulerCommand Register(string worker, uint slots = 2, uint gpus = 0, uint cpuMillis = 0, ulong memoryBytes = 0, Platform? platform = null, long at = 1_000, uint leaseAhead = 0) =>
        Wrap(new SchedulerCommand
        {
            RegisterWorker = new RegisterWorker
            {
                WorkerId = worker,
                Slots = slots,
                Gpus = gpus,
                CpuMillis = cpuMillis,
                MemoryBytes = memoryBytes,
                Platform = platform ?? new Platform(),
                RegisteredAtUnixMs = at,
                LeaseAhead = leaseAhead,
            },
        });

    public static SchedulerCommand Retire(string worker) => Wrap(new SchedulerCommand { RetireWorker = new RetireWorker { WorkerId = worker } });

    public static SchedulerCommand Assign(long at, params (string Operation, string Worker, uint Attempt)[] grants)
    {
        var assign = new AssignLeases { AssignedAtUnixMs = at };
        foreach (var (operation, worker, attempt) in grants)
        {
            assign.Grants.Add(new LeaseGrant { OperationName = operation, WorkerId = worker, Attempt = attempt, ExpiresAtUnixMs = at + 60_000 });
        }

        return Wrap(new SchedulerCommand { AssignLeases = assign });
    }

    /// <summary>A speculative clone of a leased operation as attempt <paramref name="attempt"/> on <paramref name="worker"/>.</summary>
    public static SchedulerCommand Clone(long at, string operation, string worker, uint attempt, long ttlMs = 60_000) =>
        Assign(at, [new LeaseGrant { OperationName = operation, WorkerId = worker, Attempt = attempt, ExpiresAtUnixMs = at + ttlMs, Speculative = true }]);

    public static SchedulerCommand Quarantine(string worker, string reason = "sent a corrupt blob", long at = 2_000) =>
        Wrap(new SchedulerCommand { QuarantineWorker = new QuarantineWorker { WorkerId = worker, Reason = reason, AtUnixMs = at } });

    public static SchedulerCommand Release(string worker, long at = 2_000) =>
        Wrap(new SchedulerCommand { ReleaseWorker = new ReleaseWorker { WorkerId = worker, AtUnixMs = at } });

    public static SchedulerCommand CompleteWith(string operation, string worker, uint attempt, ActionResult result, long at = 2_000) =>
        Wrap(new SchedulerCommand
        {
            Complete = new CompleteOperation { OperationName = operation, WorkerId = worker, Attempt = attempt, CompletedAtUnixMs = at, Result = result, Status = new Google.Rpc.Status() },
        });

    public static SchedulerCommand Assign(long at, IEnumerable<LeaseGrant> grants)
    {
        var assign = new AssignLeases { AssignedAtUnixMs = at };
        assign.Grants.Add(grants);
        return Wrap(new SchedulerCommand { AssignLeases = assign });
    }

    public static ActionResult Result(int exitCode = 0, string stdout = "") => new() { ExitCode = exitCode, StdoutRaw = Google.Protobuf.ByteString.CopyFromUtf8(stdout) };

    public static SchedulerCommand Complete(string operation, string worker, uint attempt = 1, int exitCode = 0, long at = 2_000, int statusCode = 0) =>
        Wrap(new SchedulerCommand
        {
            Complete = new CompleteOperation
            {
                OperationName = operation,
                WorkerId = worker,
                Attempt = attempt,
                CompletedAtUnixMs = at,
                Result = Result(exitCode, operation),
                Status = new Google.Rpc.Status { Code = statusCode },
            },
        });

    public static SchedulerCommand Fail(string operation, string worker, uint attempt, string reason, long at = 2_000, long notBefore = 0) =>
        Wrap(new SchedulerCommand
        {
            Fail = new FailOperation { OperationName = operation, WorkerId = worker, Attempt = attempt, Reason = reason, FailedAtUnixMs = at, NotBeforeUnixMs = notBefore },
        });

    public static SchedulerCommand DeadLetter(string operation, string reason, long at = 2_000) =>
        Wrap(new SchedulerCommand { DeadLetter = new DeadLetterOperation { OperationName = operation, Reason = reason, AtUnixMs = at } });

    public static SchedulerCommand Cancel(string operation, long at = 2_000, string reason = "") =>
        Wrap(new SchedulerCommand { Cancel = new CancelOperation { OperationName = operation, AtUnixMs = at, Reason = reason } });

    public static SchedulerCommand CacheUpdate(string action, int exitCode = 0, string instance = "", long at = 1_000) =>
        Wrap(new SchedulerCommand
        {
            UpdateActionCache = new UpdateActionCache { InstanceName = instance, ActionDigest = DigestOf(action), Result = Result(exitCode, "cached " + action), UpdatedAtUnixMs = at },
        });

    public static SchedulerCommand Dead(string worker, string reason = "silent past its TTL", long at = 3_000, long notBefore = 0) =>
        Wrap(new SchedulerCommand { DeclareWorkerDead = new DeclareWorkerDead { WorkerId = worker, Reason = reason, AtUnixMs = at, RequeueNotBeforeUnixMs = notBefore } });

    public static SchedulerCommand Prune(long before, uint limit = 0) =>
        Wrap(new SchedulerCommand { Prune = new PruneOperations { FinishedBeforeUnixMs = before, Limit = limit } });

    /// <summary>
    /// A graph from a compact spec: "id" or "id&lt;-producer,producer" (each producer's output "out" taken under its id).
    /// Every node declares the output "out"; its action's digest is derived from the node id unless given.
    /// </summary>
    public static SubmitGraphRequest Graph(string graphId, params string[] nodes)
    {
        var graph = new SubmitGraphRequest { GraphId = graphId, ToolInvocationId = "inv" };
        foreach (var spec in nodes)
        {
            var parts = spec.Split("<-");
            var node = new GraphNode { Id = parts[0], Arguments = { "/bin/true", parts[0] }, OutputPaths = { "out" } };
            if (parts.Length > 1)
            {
                foreach (var producer in parts[1].Split(','))
                {
                    node.Inputs.Add(new NodeInput { Node = producer, Output = "out", Path = producer + "/out" });
                }
            }

            graph.Nodes.Add(node);
        }

        return graph;
    }

    public static SchedulerCommand SubmitGraph(SubmitGraphRequest graph, long at = 1_000) =>
        Wrap(new SchedulerCommand { SubmitGraph = new SubmitGraph { Graph = graph, SubmittedAtUnixMs = at } });

    /// <summary>The leader's start of a ready node: a submit of the action <paramref name="action"/> (default: the node id).</summary>
    public static SchedulerCommand StartNode(string graphId, string nodeId, uint runs = 0, string? action = null, long at = 1_500, string instance = "")
    {
        var submit = Submit($"graph:{graphId}:{nodeId}:{runs + 1}", action: action ?? nodeId, at: at, invocation: graphId).Submit;
        submit.InstanceName = instance;
        return Wrap(new SchedulerCommand { StartGraphNode = new StartGraphNode { GraphId = graphId, NodeId = nodeId, Runs = runs, Submit = submit } });
    }

    public static SchedulerCommand FailNode(string graphId, string nodeId, string reason, uint runs = 0, long at = 1_500) =>
        Wrap(new SchedulerCommand { FailGraphNode = new FailGraphNode { GraphId = graphId, NodeId = nodeId, Runs = runs, Reason = reason, AtUnixMs = at } });

    public static SchedulerCommand Regenerate(string graphId, string nodeId, uint runs, long at = 3_000, params string[] producers)
    {
        var regenerate = new RegenerateGraphInputs { GraphId = graphId, NodeId = nodeId, Runs = runs, Reason = "outputs gone", AtUnixMs = at };
        regenerate.Producers.Add(producers);
        return Wrap(new SchedulerCommand { RegenerateGraphInputs = regenerate });
    }

    public static SchedulerCommand CancelGraph(string graphId, string reason = "", long at = 2_500) =>
        Wrap(new SchedulerCommand { CancelGraph = new CancelGraph { GraphId = graphId, Reason = reason, AtUnixMs = at } });

    public static string Name(long index) => "operations/" + index.ToString(CultureInfo.InvariantCulture);

    private static SchedulerCommand Wrap(SchedulerCommand command)
    {
        command.Version = SchedulerStateMachine.CommandVersion;
        return command;
    }
}
