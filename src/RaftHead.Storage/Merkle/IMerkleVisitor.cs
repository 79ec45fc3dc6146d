using Build.Bazel.Remote.Execution.V2;
using Directory = Build.Bazel.Remote.Execution.V2.Directory;

namespace RaftHead.Storage.Merkle;

/// <summary>
/// What a <see cref="MerkleWalker"/> reports, in walk order (breadth first; within a level, children in the order their
/// parents list them). Calls come one at a time, never concurrently.
/// </summary>
public interface IMerkleVisitor
{
    /// <summary>
    /// A level's directories, before any of them is probed or read: the place to pin them, so a presence check
    /// cannot be undone by eviction.
    /// </summary>
    void OnLevel(ReadOnlySpan<Digest> directories);

    /// <summary>A directory read, parsed and valid. Returning false ends the walk at once (its children are not queued).</summary>
    /// <param name="path">Where the directory sits under the root ("" for the root, '/' between names) when the walk
    /// visits <see cref="MerkleVisitMode.EachPath"/>; null when it visits each digest once.</param>
    bool OnDirectory(Digest digest, Directory directory, string? path);

    /// <summary>A directory the store lacks, when the walk collects them (<see cref="MissingDirectoryMode.Collect"/>).</summary>
    void OnMissing(Digest digest, string? path);
}
