namespace RaftHead.Bench.Storage;

/// <summary>One blob size: raw SHA-256 next to ingest and read throughput, in 10^6 bytes per second.</summary>
internal sealed record CasRow(
    int SizeBytes,
    double Sha256MBps,
    double RawWriteMBps,
    Throughput Ingest1,
    Throughput IngestN,
    Throughput Read1,
    Throughput ReadN,
    Throughput GrpcWrite,
    Throughput GrpcRead,
    string GrpcPath,
    StepTimes? IngestSplit,
    StepTimes? ReadSplit);
