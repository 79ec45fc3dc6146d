using System.Diagnostics;
using System.Threading.Channels;
using Xunit.Abstractions;

namespace RaftHead.Head.Tests.Grpc.Interop;

/// <summary>
/// Runs Debian's grpcio (an implementation we did not write) through Interop/echo_peer.py. In CI the peer
/// must be present; elsewhere a missing peer is reported, not silently passed.
/// </summary>
public sealed class PythonPeer : IAsyncDisposable
{
    public const string Python = "/usr/bin/python3";

    private static readonly Lazy<Task<string?>> Missing = new(FindMissingReasonAsync);

    private readonly Process _process;
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>();
    private readonly List<string> _seen = new();

    private PythonPeer(Process process)
    {
        _process = process;
        _process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                _lines.Writer.TryComplete();
            }
            else
            {
                _lines.Writer.TryWrite(e.Data);
            }
        };
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                _lines.Writer.TryWrite("stderr: " + e.Data);
            }
        };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public static string ScriptPath => Path.Combine(AppContext.BaseDirectory, "Grpc", "Interop", "echo_peer.py");

    public IReadOnlyList<string> Seen => _seen;

    /// <summary>True when the peer can run; false (with a note) on a developer machine without it; throws in CI.</summary>
    public static async Task<bool> AvailableAsync(ITestOutputHelper output)
    {
        if (await Missing.Value is not { } reason)
        {
            return true;
        }

        var message = $"The grpcio interop peer is unavailable ({reason}); run scripts/install-test-deps.sh.";
        if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidOperationException(message);
        }

        output.WriteLine("NOT RUN: " + message);
        return false;
    }

    public static PythonPeer Start(params string[] arguments)
    {
        var start = new ProcessStartInfo(Python)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(ScriptPath);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["PYTHONUNBUFFERED"] = "1";
        return new PythonPeer(Process.Start(start) ?? throw new InvalidOperationException("python3 did not start"));
    }

    /// <summary>The next output line that starts with <paramref name="prefix"/>; lines before it are kept in <see cref="Seen"/>.</summary>
    public async Task<string> WaitForLineAsync(string prefix, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            while (await _lines.Reader.WaitToReadAsync(cts.Token))
            {
                while (_lines.Reader.TryRead(out var line))
                {
                    _seen.Add(line);
                    if (line.StartsWith(prefix, StringComparison.Ordinal))
                    {
                        return line;
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
        }

        throw new TimeoutException($"No line starting '{prefix}' from the peer; it said:\n{string.Join('\n', _seen)}");
    }

    /// <summary>Waits for the process to exit and returns its code, with every line it printed.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
        await foreach (var line in _lines.Reader.ReadAllAsync(cts.Token))
        {
            _seen.Add(line);
        }

        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            // The server stops when its stdin closes; a kill by PID is the backstop.
            _process.StandardInput.Close();
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                await _process.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }
        }

        _process.Dispose();
    }

    private static async Task<string?> FindMissingReasonAsync()
    {
        if (!File.Exists(Python))
        {
            return Python + " is missing";
        }

        var check = new ProcessStartInfo(Python, "-c \"import grpc, google.protobuf\"")
        {
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(check)!;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            var error = await process.StandardError.ReadToEndAsync(cts.Token);
            await process.WaitForExitAsync(cts.Token);
            return process.ExitCode == 0 ? null : "python3 cannot import grpc: " + error.Trim();
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            return "python3 did not finish importing grpc within 30 s";
        }
    }
}
