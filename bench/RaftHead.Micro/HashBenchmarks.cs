using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using RaftHead.Protocol;

namespace RaftHead.Micro;

/// <summary>
/// SHA-256 as the CAS uses it: the raw single-core rate is the ceiling of ingest and verified reads, and
/// <see cref="Digests.Compute"/> adds the hex string and the Digest message on top.
/// </summary>
[MemoryDiagnoser]
#pragma warning disable CA1852 // BenchmarkDotNet derives from benchmark classes, so they cannot be sealed.
public class HashBenchmarks
#pragma warning restore CA1852
{
    private byte[] _data = [];
    private readonly byte[] _hash = new byte[32];

    [Params(4 * 1024, 1024 * 1024)]
    public int SizeBytes { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _data = new byte[SizeBytes];
        new Random(SizeBytes).NextBytes(_data);
    }

    [Benchmark(Baseline = true)]
    public int Sha256HashData() => SHA256.HashData(_data, _hash);

    [Benchmark]
    public long DigestsCompute() => Digests.Compute(_data).SizeBytes;
}
