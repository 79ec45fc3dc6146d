using System.Buffers;
using BenchmarkDotNet.Attributes;
using Build.Bazel.Remote.Execution.V2;
using Google.Protobuf;
using RaftHead.Protocol;

namespace RaftHead.Micro;

/// <summary>
/// Serialising an ActionResult (what the action cache stores and returns) into a buffer the caller owns, against
/// <see cref="MessageExtensions.ToByteArray"/>, which allocates a fresh array each time.
/// </summary>
[MemoryDiagnoser]
#pragma warning disable CA1852 // BenchmarkDotNet derives from benchmark classes, so they cannot be sealed.
public class ProtobufBenchmarks
#pragma warning restore CA1852
{
    private ActionResult _result = new();

    [GlobalSetup]
    public void Setup()
    {
        _result = new ActionResult
        {
            ExitCode = 0,
            StdoutDigest = Digests.Compute("compiled 3 files\n"u8),
            StderrDigest = Digests.Empty,
            ExecutionMetadata = new ExecutedActionMetadata { Worker = "micro" },
        };
        for (var i = 1; i <= 3; i++)
        {
            var name = $"bazel-out/k8-fastbuild/bin/lib/obj{i}.o";
            _result.OutputFiles.Add(new OutputFile { Path = name, Digest = Digests.Compute(System.Text.Encoding.UTF8.GetBytes(name)) });
        }
    }

    [Benchmark(Baseline = true)]
    public int ToByteArray() => _result.ToByteArray().Length;

    [Benchmark]
    public int CalculateSizeWriteToPooled()
    {
        var size = _result.CalculateSize();
        var buffer = ArrayPool<byte>.Shared.Rent(size);
        try
        {
            _result.WriteTo(buffer.AsSpan(0, size));
            return size;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    [Benchmark]
    public int CalculateSizeWriteToStack()
    {
        var size = _result.CalculateSize();
        // Setup keeps the message under 1 KiB, so the stack buffer always fits.
        Span<byte> buffer = stackalloc byte[1024];
        _result.WriteTo(buffer[..size]);
        return size;
    }
}
