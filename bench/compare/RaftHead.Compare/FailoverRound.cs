namespace RaftHead.Compare;

/// <summary>One leader kill: who died, who acknowledged the first write after it, how long that took (null: no write within the deadline).</summary>
internal sealed record FailoverRound(int Round, int Killed, int? AckedBy, double? FailoverMs, int Attempts, double RestartMs);
