namespace RaftHead.Bench.Execution;

/// <summary>Medians (and p99) of one stage of an Execute, read from ExecutedActionMetadata and the client's clock.</summary>
internal sealed record StageSplit(string Stage, double P50Us, double P99Us);
