namespace RaftHead.Storage.Merkle;

/// <summary>What a walk does on a directory the store lacks.</summary>
public enum MissingDirectoryMode
{
    /// <summary>Throw <see cref="MissingDirectoryException"/> for the first one.</summary>
    Stop,

    /// <summary>Report each to <see cref="IMerkleVisitor.OnMissing"/> and walk on past it, so one answer can name them all.</summary>
    Collect,
}
