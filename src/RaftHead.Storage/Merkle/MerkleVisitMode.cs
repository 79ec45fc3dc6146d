namespace RaftHead.Storage.Merkle;

/// <summary>Whether a directory referenced from several places is walked once or at each place.</summary>
public enum MerkleVisitMode
{
    /// <summary>Each distinct digest is read and visited once, where it is first met; no paths are built.</summary>
    EachDigestOnce,

    /// <summary>
    /// Every reference is read and visited with its own path (a directory referenced twice is read twice), as laying a
    /// tree out on disk needs.
    /// </summary>
    EachPath,
}
