namespace RaftHead.Storage;

/// <summary>A streamed upload of one blob. Dispose without commit discards it.</summary>
public interface IBlobWriter : IAsyncDisposable
{
    /// <summary>Bytes accepted so far (what ByteStream QueryWriteStatus reports as committed_size while writing).</summary>
    long BytesWritten { get; }

    ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken);

    /// <summary>
    /// Verifies size and digest and makes the blob durable and visible. Throws <see cref="BlobDigestMismatchException"/>
    /// and keeps nothing when the bytes are not the blob the digest names.
    /// </summary>
    ValueTask CommitAsync(CancellationToken cancellationToken);
}
