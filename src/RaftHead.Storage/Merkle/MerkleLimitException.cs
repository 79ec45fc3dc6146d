using Build.Bazel.Remote.Execution.V2;

namespace RaftHead.Storage.Merkle;

/// <summary>A tree is larger than a walk allows: more directories than <see cref="MerkleWalkOptions.DirectoriesMax"/>
/// or deeper than <see cref="MerkleWalkOptions.DepthMax"/>.</summary>
public sealed class MerkleLimitException(Digest root, MerkleLimit limit, long limitValue, string message)
    : InvalidOperationException(message)
{
    public Digest Root { get; } = root;

    public MerkleLimit Limit { get; } = limit;

    /// <summary>The bound that was passed.</summary>
    public long LimitValue { get; } = limitValue;
}
