using BenchmarkDotNet.Running;

namespace RaftHead.Micro;

/// <summary>
/// Micro-benchmarks (BenchmarkDotNet): <c>dotnet run -c Release --project bench/RaftHead.Micro -- --filter '*' --job short</c>.
/// </summary>
internal static class Program
{
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
