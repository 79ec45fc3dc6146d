namespace RaftHead.Head.Reapi;

public sealed record ReapiOptions
{
    /// <summary>Advertised in capabilities; batch calls asking for more are refused with INVALID_ARGUMENT.</summary>
    public long MaxBatchTotalSizeBytes { get; init; } = 4 * 1024 * 1024;

    /// <summary>Bytes per ByteStream ReadResponse.</summary>
    public int ReadChunkBytes { get; init; } = 256 * 1024;

    /// <summary>Largest single WriteRequest accepted (clients send 16 KiB to 1 MiB chunks).</summary>
    public int MaxWriteChunkBytes { get; init; } = 16 * 1024 * 1024;

    /// <summary>Budget for inlined stdout, stderr and output files in one GetActionResult answer.</summary>
    public long MaxInlineBytes { get; init; } = 1024 * 1024;

    public bool ExecutionEnabled { get; init; }

    /// <summary>Receive limit of the CAS service: a batch at the advertised limit plus its framing fits through it.</summary>
    public int CasReceiveMessageBytesMax => (int)Math.Min(int.MaxValue, MaxBatchTotalSizeBytes + (1024 * 1024));

    /// <summary>Receive limit of ByteStream: the largest Write chunk plus its resource name and framing.</summary>
    public int ByteStreamReceiveMessageBytesMax => MaxWriteChunkBytes + (64 * 1024);
}
