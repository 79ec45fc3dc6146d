using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace RaftHead.IntegrationTests;

/// <summary>
/// <c>rh serve</c> as a real child process on a free loopback port (<c>--port 0</c>); the port comes from the
/// <c>ready: grpc://127.0.0.1:PORT</c> line it prints. Disposing stops it by its process id: SIGTERM, then
/// SIGKILL if it has not exited within a few seconds.
/// </summary>
public sealed partial class RhServerProcess : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(10);

    private readonly Process _process;
    private readonly StringBuilder _log = new();
    private readonly TaskCompletionSource<int> _port = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _stopping = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private RhServerProcess(Process process)
    {
        _process = process;
    }

    /// <summary>The gRPC port it listens on, 127.0.0.1 only.</summary>
    public int Port { get; private set; }

    public int ProcessId => _process.Id;

    public string Endpoint => $"127.0.0.1:{Port}";

    /// <summary>Everything it printed so far, for failure messages.</summary>
    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    public static string RhDll => Path.Combine(AppContext.BaseDirectory, "rh.dll");

    /// <summary>The dotnet host that runs the tests (set by the SDK), else the one on PATH.</summary>
    public static string DotnetHost => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";

    /// <param name="extraArguments">More <c>rh serve</c> options, e.g. <c>--exec</c>.</param>
    public static async Task<RhServerProcess> StartAsync(string dataDirectory, params string[] extraArguments)
    {
        var start = new ProcessStartInfo(DotnetHost)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { RhDll, "serve", "--port", "0", "--data", dataDirectory }.Concat(extraArguments))
        {
            start.ArgumentList.Add(argument);
        }

        var process = new Process { StartInfo = start };
        var server = new RhServerProcess(process);
        process.OutputDataReceived += (_, e) => server.OnLine(e.Data, isError: false);
        process.ErrorDataReceived += (_, e) => server.OnLine(e.Data, isError: true);
        if (!process.Start())
        {
            throw new InvalidOperationException("rh serve did not start");
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            var ready = await Task.WhenAny(server._port.Task, process.WaitForExitAsync(), Task.Delay(StartTimeout));
            if (ready != server._port.Task)
            {
                throw new InvalidOperationException(
                    process.HasExited
                        ? $"rh serve exited with code {process.ExitCode} before it was ready:\n{server.Log}"
                        : $"rh serve printed no ready line within {StartTimeout.TotalSeconds:F0} s:\n{server.Log}");
            }

            server.Port = await server._port.Task;
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>Runs <c>rh cache stats --json</c> against this server.</summary>
    public async Task<CacheStatsSnapshot> CacheStatsAsync()
    {
        var result = await ProcessRunner.RunAsync(DotnetHost, [RhDll, "cache", "stats", "--json", "--endpoint", Endpoint], TimeSpan.FromSeconds(60));
        if (!result.Succeeded)
        {
            throw new InvalidOperationException($"rh cache stats failed:\n{result.Describe()}");
        }

        return CacheStatsSnapshot.Parse(result.StandardOutput);
    }

    /// <summary>
    /// Sends SIGTERM, and a second one as soon as the server says it is stopping (while it shuts down), then returns
    /// the exit code.
    /// </summary>
    public async Task<int> StopTwiceAsync()
    {
        using var cts = new CancellationTokenSource(StopTimeout);
        PosixSignals.Terminate(_process.Id);
        await _stopping.Task.WaitAsync(cts.Token);
        PosixSignals.Terminate(_process.Id);
        await _process.WaitForExitAsync(cts.Token);
        return _process.ExitCode;
    }

    public ValueTask DisposeAsync() => ProcessStop.TerminateAndDisposeAsync(_process, StopTimeout);

    private void OnLine(string? line, bool isError)
    {
        if (line is null)
        {
            return;
        }

        lock (_log)
        {
            _log.Append(isError ? "stderr: " : "").Append(line).Append('\n');
        }

        if (!isError && ReadyLine().Match(line) is { Success: true } match)
        {
            _port.TrySetResult(int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
        }

        if (!isError && line == "stopping")
        {
            _stopping.TrySetResult();
        }
    }

    [GeneratedRegex(@"^ready: grpc://127\.0\.0\.1:(\d+)\b")]
    private static partial Regex ReadyLine();
}
