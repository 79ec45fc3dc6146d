using Build.Bazel.Remote.Execution.V2;

namespace RaftHead.Storage.Merkle;

/// <summary>A directory blob of a tree does not parse or breaks the Directory rules.</summary>
public sealed class InvalidDirectoryException : Exception
{
    /// <param name="reason">What is wrong, for the message; for <see cref="InvalidDirectoryKind.BreaksRules"/> the
    /// validator's own words.</param>
    /// <param name="path">Where the directory sits under the root, when the walk builds paths.</param>
    public InvalidDirectoryException(Digest digest, InvalidDirectoryKind kind, string reason, string? path = null, Exception? innerException = null)
        : base($"Directory {digest.Hash}/{digest.SizeBytes} is invalid: {reason}", innerException)
    {
        Digest = digest;
        Kind = kind;
        Reason = reason;
        Path = path;
    }

    public Digest Digest { get; }

    public InvalidDirectoryKind Kind { get; }

    public string Reason { get; }

    public string? Path { get; }
}
