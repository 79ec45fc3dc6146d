namespace RaftHead.Cli.Graphs;

/// <summary>Where a blob to upload comes from: a local file (read when it is uploaded) or bytes built here (a Directory).</summary>
internal sealed record BlobSource(string? FilePath, ReadOnlyMemory<byte> Bytes)
{
    public static BlobSource File(string path) => new(path, ReadOnlyMemory<byte>.Empty);

    public static BlobSource Message(byte[] bytes) => new(null, bytes);
}
