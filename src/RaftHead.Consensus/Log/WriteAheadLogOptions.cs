namespace RaftHead.Consensus.Log;

public sealed record WriteAheadLogOptions
{
    /// <summary>A segment is closed (and made durable) once it grows past this size.</summary>
    public long SegmentBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>Upper bound on one record, so a corrupt length field cannot make us allocate gigabytes.</summary>
    public int MaxRecordBytes { get; init; } = 64 * 1024 * 1024;

    /// <summary>
    /// Whether <see cref="WriteAheadLog.Sync"/> really reaches the disk. Only tests that measure something else
    /// may turn this off; a production node never does.
    /// </summary>
    public bool FlushToDisk { get; init; } = true;
}
