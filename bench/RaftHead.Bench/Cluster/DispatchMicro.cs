using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Build.Bazel.Remote.Execution.V2;
using Google.Protobuf;
using RaftHead.Head.Scheduling;
using RaftHead.Protocol.V1;

namespace RaftHead.Bench.Cluster;

/// <summary>
/// The leader's dispatch work without the network or the log, on one thread: a state with many workers and a deep queue,
/// then, until the queue is drained, <see cref="Placement.Plan"/>, the plan's AssignLeases applied as bytes (as the log
/// applies it), and a few completions applied before the next plan (a leader plans after every apply, so plans are many
/// and small while completions trickle in). Reports the time of each part per plan and per grant.
/// </summary>
internal static class DispatchMicro
{
    private const long LeaseTtlMs = 3_600_000;

    public static string Run(DispatchMicroOptions o)
    {
        var s = new StringBuilder();
        void L(FormattableString line) => s.AppendLine(line.ToString(CultureInfo.InvariantCulture));
        L($"### Dispatch in process: {o.Workers:N0} workers ({o.WideWorkers} with {o.WideSlots} slots, the rest 1), {o.Queued:N0} queued, at most {o.GrantsMax} grants a plan");
        L($"");
        L($"| completions between plans | plans | grants | grants/plan | plan µs/plan | plan µs/grant | assign apply µs/grant | complete apply µs | decisions/s (plan + assign) | operations/s (all three) |");
        L($"|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var chunk in o.CompletionsBetweenPlans)
        {
            // Once untimed so the JIT and the caches are warm, then measured.
            Once(o, chunk, o.Queued / 10);
            var paused = GC.GetTotalPauseDuration();
            var collections = GC.CollectionCount(0);
            var r = Once(o, chunk, o.Queued);
            paused = GC.GetTotalPauseDuration() - paused;
            collections = GC.CollectionCount(0) - collections;
            L($"| {chunk} | {r.Plans:N0} | {r.Grants:N0} | {(double)r.Grants / r.Plans:0.0} | {Us(r.PlanTicks) / r.Plans:0.0} | {Us(r.PlanTicks) / r.Grants:0.00} | {Us(r.AssignTicks) / r.Grants:0.00} | {Us(r.CompleteTicks) / r.Completes:0.00} | {r.Grants / Sec(r.PlanTicks + r.AssignTicks):N0} | {r.Completes / Sec(r.PlanTicks + r.AssignTicks + r.CompleteTicks):N0} |");
            Console.Error.WriteLine($"dispatch: chunk {chunk}: {r.Grants} grants in {r.Plans} plans, {Sec(r.PlanTicks):0.000} s planning, {Sec(r.AssignTicks):0.000} s assigning, {Sec(r.CompleteTicks):0.000} s completing; {collections} gen0+ collections pausing {paused.TotalSeconds:0.000} s in all (setup included)");
        }

        return s.ToString();
    }

    private static double Us(long ticks) => ticks / 1e3;

    private static double Sec(long ticks) => ticks / 1e9;

    private static Result Once(DispatchMicroOptions o, int chunk, int queued)
    {
        var machine = new SchedulerStateMachine(new SchedulerLimits { UnfinishedOperationsMax = Math.Max(10_000, queued) });
        long index = 0;
        byte[] Apply(SchedulerCommand command)
        {
            command.Version = SchedulerStateMachine.CommandVersion;
            return machine.Apply(++index, command.ToByteArray());
        }

        for (var w = 0; w < o.Workers; w++)
        {
            Apply(new SchedulerCommand { RegisterWorker = new RegisterWorker { WorkerId = WorkerId(w), Slots = w < o.WideWorkers ? (uint)o.WideSlots : 1u, CpuMillis = 64_000, MemoryBytes = 64UL << 30, RegisteredAtUnixMs = 1 } });
        }

        for (var q = 0; q < queued; q++)
        {
            var hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(BitConverter.GetBytes((long)q)));
            Apply(new SchedulerCommand
            {
                Submit = new SubmitAction
                {
                    RequestId = "r" + q.ToString(CultureInfo.InvariantCulture),
                    SubmittedAtUnixMs = 1,
                    ToolInvocationId = "inv" + (q % 4).ToString(CultureInfo.InvariantCulture),
                    ActionDigest = new Digest { Hash = hash, SizeBytes = 140 },
                    SkipCacheLookup = true,
                },
            });
        }

        var result = new Result();
        var outstanding = new Queue<(string Operation, string Worker, uint Attempt)>();
        var now = 1_000L;
        var empty = new ActionResult();
        var cache = new PlacementCache();
        while (machine.Current.UnfinishedCount > 0)
        {
            now++;
            var before = ThreadCpu.Ticks();
            var grants = Placement.Plan(machine.Current, now, LeaseTtlMs, o.GrantsMax, cache: cache);
            var planned = ThreadCpu.Ticks();
            result.PlanTicks += planned - before;
            result.Plans++;
            if (grants.Count > 0)
            {
                var assign = new AssignLeases { AssignedAtUnixMs = now, Grants = { grants } };
                var answer = SchedulerResult.Parser.ParseFrom(Apply(new SchedulerCommand { AssignLeases = assign }));
                result.AssignTicks += ThreadCpu.Ticks() - planned;
                for (var g = 0; g < grants.Count; g++)
                {
                    if (answer.AssignLeases.Grants[g].Code != SchedulerResultCode.Ok)
                    {
                        throw new InvalidOperationException($"Benchmark self-check failed: a fresh plan's grant was refused: {answer.AssignLeases.Grants[g].Message}");
                    }

                    outstanding.Enqueue((grants[g].OperationName, grants[g].WorkerId, grants[g].Attempt));
                    result.Grants++;
                }
            }
            else if (outstanding.Count == 0)
            {
                throw new InvalidOperationException("Benchmark self-check failed: work is queued, nothing runs, and the plan grants nothing.");
            }

            var completing = ThreadCpu.Ticks();
            for (var c = 0; c < chunk && outstanding.TryDequeue(out var lease); c++)
            {
                var complete = new CompleteOperation { OperationName = lease.Operation, WorkerId = lease.Worker, Attempt = lease.Attempt, CompletedAtUnixMs = now, Result = empty, Status = new Google.Rpc.Status() };
                Apply(new SchedulerCommand { Complete = complete });
                result.Completes++;
            }

            result.CompleteTicks += ThreadCpu.Ticks() - completing;
        }

        return result;
    }

    private static string WorkerId(int n) => "sim-" + n.ToString("D4", CultureInfo.InvariantCulture);

    private sealed class Result
    {
        public long Plans;
        public long Grants;
        public long Completes;
        public long PlanTicks;
        public long AssignTicks;
        public long CompleteTicks;
    }
}

internal sealed record DispatchMicroOptions
{
    public int Workers { get; init; } = 1_024;

    /// <summary>Workers with many slots (the rest have one), as the cluster scenario's simulated workers.</summary>
    public int WideWorkers { get; init; } = 4;

    public int WideSlots { get; init; } = 256;

    public int Queued { get; init; } = 10_000;

    public int GrantsMax { get; init; } = 512;

    public IReadOnlyList<int> CompletionsBetweenPlans { get; init; } = [1, 16, 256];

    public string? OutPath { get; init; }
}

/// <summary>CPU time of the calling thread in nanoseconds (CLOCK_THREAD_CPUTIME_ID; Linux).</summary>
internal static partial class ThreadCpu
{
    private const int ClockThreadCpuTime = 3;

    public static long Ticks()
    {
        if (clock_gettime(ClockThreadCpuTime, out var now) != 0)
        {
            throw new InvalidOperationException("clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
        }

        return (now.Seconds * 1_000_000_000L) + now.Nanoseconds;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", SetLastError = false)]
    private static partial int clock_gettime(int clock, out TimeSpec time);
}
