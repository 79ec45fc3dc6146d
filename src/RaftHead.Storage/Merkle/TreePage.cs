using Directory = Build.Bazel.Remote.Execution.V2.Directory;

namespace RaftHead.Storage.Merkle;

/// <summary>One page of a GetTree walk; <see cref="NextPageToken"/> is empty on the last page.</summary>
public sealed record TreePage(IReadOnlyList<Directory> Directories, string NextPageToken);
