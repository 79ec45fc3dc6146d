namespace RaftHead.Bench.Storage;

/// <summary>Wall time spent in named steps of one operation kind, summed over its operations (a profile by instrumentation).</summary>
internal sealed record StepTimes(string What, long Bytes, IReadOnlyList<(string Step, double Seconds)> Steps)
{
    public double TotalSeconds => Steps.Sum(s => s.Seconds);
}
