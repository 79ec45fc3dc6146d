namespace RaftHead.Storage;

/// <summary>
/// A large blob's bytes turned out, at the end of a whole read, not to hash to its digest. The read fails instead of
/// completing, the record is already removed and counted, and the blob is reported missing from then on.
/// </summary>
public sealed class BlobCorruptException : IOException
{
    public BlobCorruptException(long sizeBytes)
        : base($"A {sizeBytes}-byte blob failed verification while it was read; it was removed from the CAS.")
    {
    }
}
