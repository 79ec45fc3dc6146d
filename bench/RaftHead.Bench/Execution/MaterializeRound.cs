namespace RaftHead.Bench.Execution;

/// <summary>One materialisation of the whole tree into a fresh directory.</summary>
internal sealed record MaterializeRound(string Method, int Round, int Files, int Linked, int Copied, double Seconds);
