namespace RaftHead.Bench.Execution;

/// <summary>One timed case of one round: how many calls (or process starts) finished, and their latency.</summary>
internal sealed record ExecRound(string Case, int Clients, int Round, long Calls, double Seconds, double P50Us, double P99Us)
{
    public double PerSecond => Calls / Seconds;
}
