namespace RaftHead.Consensus.Core;

/// <summary>The application's state as of <see cref="SnapshotMetadata.Index"/>; the data is opaque to Raft.</summary>
public sealed record Snapshot(SnapshotMetadata Metadata, ReadOnlyMemory<byte> Data)
{
    public static Snapshot Empty { get; } = new(SnapshotMetadata.Empty, ReadOnlyMemory<byte>.Empty);

    public long Index => Metadata.Index;

    public long Term => Metadata.Term;
}
