namespace RaftHead.Storage.Merkle;

/// <summary>Which bound of a walk a tree passed.</summary>
public enum MerkleLimit
{
    /// <summary><see cref="MerkleWalkOptions.DirectoriesMax"/>.</summary>
    Directories,

    /// <summary><see cref="MerkleWalkOptions.DepthMax"/>.</summary>
    Depth,
}
