namespace RaftHead.Consensus.Log;

/// <summary>
/// The write-ahead log is damaged in a way a crash cannot explain (e.g. a bad record followed by good ones, or
/// lost committed entries). The node must not start: starting would forget acknowledged state.
/// </summary>
public sealed class WalCorruptionException : Exception
{
    public WalCorruptionException(string path, long offset, string reason)
        : base($"Write-ahead log corrupt at {path} offset {offset}: {reason}. Refusing to start; restore this node from a peer (remove its data directory and re-add it) or from backup.")
    {
        Path = path;
        Offset = offset;
    }

    public string Path { get; }

    public long Offset { get; }
}
