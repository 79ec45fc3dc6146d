namespace RaftHead.Storage.Merkle;

/// <summary>How a <see cref="MerkleWalker"/> walks; the defaults are GetTree's.</summary>
public sealed record MerkleWalkOptions
{
    /// <summary>Directories read from the store at once.</summary>
    public int ConcurrencyMax { get; init; } = 16;

    /// <summary>Largest Directory blob read; a larger digest is refused before any read.</summary>
    public long DirectoryMaxBytes { get; init; } = 4L << 20;

    /// <summary>Most directories a walk may queue, the root included: distinct digests in
    /// <see cref="MerkleVisitMode.EachDigestOnce"/>, references in <see cref="MerkleVisitMode.EachPath"/>.</summary>
    public int DirectoriesMax { get; init; } = 1_000_000;

    /// <summary>Deepest level a directory may sit at; the root is level 0.</summary>
    public int DepthMax { get; init; } = int.MaxValue;

    public MerkleVisitMode Visit { get; init; } = MerkleVisitMode.EachDigestOnce;

    public MissingDirectoryMode Missing { get; init; } = MissingDirectoryMode.Stop;

    /// <summary>
    /// Ask the store which of a level's directories it lacks (one index probe) before reading any, so absent ones are
    /// reported without a read attempt. Worth it when absent directories are expected, as when checking an input root.
    /// </summary>
    public bool ProbeLevels { get; init; }

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(ConcurrencyMax, nameof(ConcurrencyMax));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(DirectoryMaxBytes, nameof(DirectoryMaxBytes));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(DirectoriesMax, nameof(DirectoriesMax));
        ArgumentOutOfRangeException.ThrowIfNegative(DepthMax, nameof(DepthMax));
    }
}
