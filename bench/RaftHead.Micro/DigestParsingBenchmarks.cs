using BenchmarkDotNet.Attributes;
using Build.Bazel.Remote.Execution.V2;
using RaftHead.Protocol;

namespace RaftHead.Micro;

/// <summary>Per-digest costs every CAS call pays: validating a hash, parsing a resource name's digest, formatting one.</summary>
[MemoryDiagnoser]
#pragma warning disable CA1852 // BenchmarkDotNet derives from benchmark classes, so they cannot be sealed.
public class DigestParsingBenchmarks
#pragma warning restore CA1852
{
    private readonly Digest _digest = Digests.Compute("rafthead"u8);
    private string _text = "";

    [GlobalSetup]
    public void Setup() => _text = Digests.ToResourceString(_digest);

    [Benchmark]
    public bool Validate() => Digests.Validate(_digest) is null;

    [Benchmark]
    public long TryParse() => Digests.TryParse(_text, out var digest, out _) ? digest.SizeBytes : -1;

    [Benchmark]
    public int ToResourceString() => Digests.ToResourceString(_digest).Length;
}
