namespace RaftHead.Compare;

/// <summary>What the report says about the run itself.</summary>
internal sealed record RunInfo(
    string Command,
    DateTime StartedUtc,
    TimeSpan Duration,
    string Machine,
    string LoadAverageAtStart,
    string LoadAverageAtEnd,
    string EtcdVersion,
    double FsyncP50Ms,
    double FsyncP99Ms,
    string TempRoot);
