namespace RaftHead.Head.Scheduling;

/// <summary>
/// The scheduler's bounds. They are part of the replicated behaviour: every replica of one cluster must run with the
/// same values, or the same commands would give different states.
/// </summary>
public sealed record SchedulerLimits
{
    /// <summary>Queued plus leased operations; a submit that would add one more is answered QUEUE_FULL.</summary>
    public int UnfinishedOperationsMax { get; init; } = 10_000;

    /// <summary>Attempts an operation gets (the first run included) before it is dead-lettered.</summary>
    public int AttemptsMax { get; init; } = 3;

    /// <summary>Action cache entries kept in the replicated state; the oldest update is forgotten first.</summary>
    public int ActionCacheEntriesMax { get; init; } = 100_000;

    public int WorkerSlotsMax { get; init; } = 1_024;

    /// <summary>The most CPU a worker declares or an action asks for (thousandths of a core): keeps every sum exact.</summary>
    public uint CpuMillisMax { get; init; } = 1_024_000;

    /// <summary>The most memory a worker declares or an action asks for (1 PiB): keeps every sum exact.</summary>
    public ulong MemoryBytesMax { get; init; } = 1UL << 50;

    public int WorkerGpusMax { get; init; } = 64;

    /// <summary>Request ids, worker ids, invocation ids and operation names.</summary>
    public int IdLengthMax { get; init; } = 256;

    public int ReasonLengthMax { get; init; } = 4_096;

    /// <summary>Input files a submit may name for locality scoring (SubmitAction.input_hints).</summary>
    public int InputHintsMax { get; init; } = 8;

    /// <summary>Completions one CompleteBatch entry may carry.</summary>
    public int CompleteBatchMax { get; init; } = 1_024;

    /// <summary>Nodes one action graph may hold (each is one action; the whole graph is one log entry).</summary>
    public int GraphNodesMax { get; init; } = 10_000;

    /// <summary>Outputs of other nodes one graph node may take as inputs.</summary>
    public int GraphNodeInputsMax { get; init; } = 10_000;

    /// <summary>Runs a graph node gets when its outputs keep getting lost; past it, a node needing them fails.</summary>
    public int GraphNodeRunsMax { get; init; } = 3;

    /// <summary>Non-determinism reports kept; the oldest goes first.</summary>
    public int NondeterminismReportsMax { get; init; } = 100;

    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(UnfinishedOperationsMax, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(AttemptsMax, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(ActionCacheEntriesMax, 0);
        ArgumentOutOfRangeException.ThrowIfLessThan(WorkerSlotsMax, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(WorkerGpusMax, 0);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(CpuMillisMax, uint.MaxValue / (uint)WorkerSlotsMax);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MemoryBytesMax, ulong.MaxValue / (ulong)WorkerSlotsMax);
        ArgumentOutOfRangeException.ThrowIfLessThan(IdLengthMax, 16);
        ArgumentOutOfRangeException.ThrowIfLessThan(ReasonLengthMax, 16);
        ArgumentOutOfRangeException.ThrowIfLessThan(InputHintsMax, 0);
        ArgumentOutOfRangeException.ThrowIfLessThan(CompleteBatchMax, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(GraphNodesMax, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(GraphNodeInputsMax, 0);
        ArgumentOutOfRangeException.ThrowIfLessThan(GraphNodeRunsMax, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(NondeterminismReportsMax, 0);
    }
}
