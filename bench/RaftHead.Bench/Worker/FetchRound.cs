namespace RaftHead.Bench.Worker;

/// <summary>One side fetching a whole blob set once, at one concurrency, in one round.</summary>
internal sealed record FetchRound(string Side, int BlobBytes, int Concurrency, int Round, int Blobs, long Bytes, double Seconds, double P50Ms, double P99Ms)
{
    public double MegabytesPerSecond => Bytes / 1e6 / Seconds;
}
