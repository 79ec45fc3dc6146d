using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace RaftHead.Bench.Storage;

/// <summary>
/// A redis-server we start on a free loopback port (no persistence, data dir in a temp directory) and stop by its
/// PID, and redis-benchmark GET runs against it, parsed from <c>--csv</c> output (redis 7:
/// "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms").
/// </summary>
internal sealed class RedisBench : IDisposable
{
    public const int Keys = 1000;
    private static readonly TimeSpan ToolTimeout = TimeSpan.FromSeconds(120);

    private readonly Process _server;
    private readonly TempDirectory _dir;

    private RedisBench(Process server, TempDirectory dir, int port, string version)
    {
        _server = server;
        _dir = dir;
        Port = port;
        Version = version;
    }

    public int Port { get; }

    public string Version { get; }

    public static async Task<RedisBench> StartAsync(string tempRoot, CancellationToken cancellationToken)
    {
        var version = (await RunToolAsync("redis-server", ["--version"], cancellationToken).ConfigureAwait(false)).Trim();
        var dir = new TempDirectory(tempRoot, "redis");
        var port = FreePort();
        var info = new ProcessStartInfo("redis-server")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { "--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir.Path, "--daemonize", "no", "--protected-mode", "yes" })
        {
            info.ArgumentList.Add(arg);
        }

        var server = Process.Start(info) ?? throw new InvalidOperationException("redis-server did not start");
        server.OutputDataReceived += (_, _) => { };
        server.ErrorDataReceived += (_, _) => { };
        server.BeginOutputReadLine();
        server.BeginErrorReadLine();
        var bench = new RedisBench(server, dir, port, version);
        try
        {
            var deadline = Stopwatch.StartNew();
            while (true)
            {
                try
                {
                    using var probe = new TcpClient();
                    await probe.ConnectAsync(IPAddress.Loopback, port, cancellationToken).ConfigureAwait(false);
                    break;
                }
                catch (SocketException) when (deadline.Elapsed < TimeSpan.FromSeconds(10) && !server.HasExited)
                {
                    await Task.Delay(50, cancellationToken).ConfigureAwait(false);
                }
            }

            return bench;
        }
        catch
        {
            bench.Dispose();
            throw;
        }
    }

    /// <summary>Fills the keyspace (SET of <paramref name="valueBytes"/>-byte values on <see cref="Keys"/> random keys).</summary>
    public Task FillAsync(int valueBytes, CancellationToken cancellationToken) =>
        RunToolAsync("redis-benchmark", Args("set", 1, Keys * 30, valueBytes), cancellationToken);

    /// <summary>One GET round: <paramref name="clients"/> connections, <paramref name="requests"/> requests in all.</summary>
    public async Task<(double Rps, double P50Us, double P99Us)> GetAsync(int clients, int requests, int valueBytes, CancellationToken cancellationToken)
    {
        var csv = await RunToolAsync("redis-benchmark", Args("get", clients, requests, valueBytes), cancellationToken).ConfigureAwait(false);
        foreach (var line in csv.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var cells = line.Split(',').Select(c => c.Trim('"')).ToArray();
            if (cells.Length >= 7 && cells[0] == "GET")
            {
                double Cell(int i) => double.Parse(cells[i], CultureInfo.InvariantCulture);
                return (Cell(1), Cell(4) * 1000, Cell(6) * 1000);
            }
        }

        throw new InvalidOperationException($"no GET row in redis-benchmark output: {csv}");
    }

    public void Dispose()
    {
        try
        {
            if (!_server.HasExited)
            {
                _server.Kill();
                _server.WaitForExit(5000);
            }
        }
        finally
        {
            _server.Dispose();
            _dir.Dispose();
        }
    }

    private string[] Args(string test, int clients, int requests, int valueBytes) =>
    [
        "-h", "127.0.0.1", "-p", Port.ToString(CultureInfo.InvariantCulture), "-t", test,
        "-c", clients.ToString(CultureInfo.InvariantCulture), "-n", requests.ToString(CultureInfo.InvariantCulture),
        "-d", valueBytes.ToString(CultureInfo.InvariantCulture), "-r", Keys.ToString(CultureInfo.InvariantCulture), "--csv",
    ];

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private static async Task<string> RunToolAsync(string tool, string[] args, CancellationToken cancellationToken)
    {
        var info = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"{tool} did not start");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(ToolTimeout);
        var stdout = process.StandardOutput.ReadToEndAsync(timeout.Token);
        var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
        try
        {
            await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill();
            throw;
        }

        var output = await stdout.ConfigureAwait(false);
        await stderr.ConfigureAwait(false);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{tool} exited with {process.ExitCode}: {output}");
        }

        return output;
    }
}
