namespace RaftHead.Durability;

/// <summary>Another process (or another open in this one) holds the lock on a data directory.</summary>
public sealed class DataDirectoryInUseException : IOException
{
    public DataDirectoryInUseException(string directory, string lockFilePath, int? holderProcessId)
        : base(holderProcessId is { } pid
            ? $"data directory {directory} is in use by process {pid} (lock file {lockFilePath})"
            : $"data directory {directory} is in use by another process (lock file {lockFilePath})")
    {
        Directory = directory;
        LockFilePath = lockFilePath;
        HolderProcessId = holderProcessId;
    }

    public string Directory { get; }

    public string LockFilePath { get; }

    /// <summary>The pid the holder wrote into the lock file; null if it had not written it yet.</summary>
    public int? HolderProcessId { get; }
}
