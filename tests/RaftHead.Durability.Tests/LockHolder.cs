using System.Diagnostics;

namespace RaftHead.Durability.Tests;

/// <summary>A second process holding a data directory's lock: this test assembly run through its own <see cref="Program"/>.</summary>
public sealed class LockHolder : IDisposable
{
    public const string ReadyLine = "HOLDING";

    private readonly Process _process;

    private LockHolder(Process process, int processId)
    {
        _process = process;
        ProcessId = processId;
    }

    public int ProcessId { get; }

    public static async Task<LockHolder> StartAsync(string directory, TimeSpan timeout)
    {
        var start = new ProcessStartInfo("dotnet", [typeof(Program).Assembly.Location, "hold", directory])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var process = Process.Start(start)!;
        Task<string> errors = process.StandardError.ReadToEndAsync();
        string? line = await process.StandardOutput.ReadLineAsync().WaitAsync(timeout);
        if (line is null || !line.StartsWith(ReadyLine + " ", StringComparison.Ordinal))
        {
            process.Kill();
            await process.WaitForExitAsync();
            throw new InvalidOperationException($"lock holder did not start: '{line}' {await errors}");
        }

        return new LockHolder(process, int.Parse(line.AsSpan(ReadyLine.Length + 1), System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>SIGKILL: the holder gets no chance to release anything itself.</summary>
    public async Task KillAsync()
    {
        _process.Kill();
        await _process.WaitForExitAsync();
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            _process.WaitForExit();
        }

        _process.Dispose();
    }
}
