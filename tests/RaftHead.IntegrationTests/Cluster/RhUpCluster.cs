using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Grpc.Core;
using RaftHead.Protocol.Client;
using RaftHead.Protocol.V1;
using RaftHead.Testing;

namespace RaftHead.IntegrationTests.Cluster;

/// <summary>
/// <c>rh up</c> as one child process: three heads on consecutive free loopback ports and some workers, all its
/// children. Disposing stops it with SIGTERM and then kills by id any child of it still running, so nothing outlives
/// a test, failed or not.
/// </summary>
public sealed partial class RhUpCluster : IAsyncDisposable
{
    /// <summary>Tests that start a cluster run one at a time: two clusters under load on a small machine starve each other.</summary>
    public const string Collection = "rh up clusters";

    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(120);
    private static readonly TimeSpan CliTimeout = TimeSpan.FromSeconds(60);

    private RhUpCluster(ChildProcess up, int basePort, long leaderAtStart)
    {
        Up = up;
        BasePort = basePort;
        LeaderAtStart = leaderAtStart;
    }

    public ChildProcess Up { get; }

    public int BasePort { get; }

    /// <summary>The leader <c>rh up</c> named in its ready line.</summary>
    public long LeaderAtStart { get; }

    /// <summary>host:port of heads 1, 2 and 3.</summary>
    public IReadOnlyList<string> Heads => [Endpoint(1), Endpoint(2), Endpoint(3)];

    public string Endpoint(long id) => string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{BasePort + id - 1}");

    /// <param name="dataDirectory">Made searchable by others: when the tests run as root the workers' run-as user must reach it.</param>
    /// <param name="restart">False: a head or worker that dies stays dead (<c>--no-restart</c>).</param>
    public static async Task<RhUpCluster> StartAsync(string dataDirectory, int workers, int slots, bool restart = true)
    {
        File.SetUnixFileMode(dataDirectory, (UnixFileMode)Convert.ToInt32("755", 8));
        var basePort = FreeConsecutivePorts(3);
        string[] arguments =
        [
            "up", "--data", dataDirectory, "--base-port", basePort.ToString(CultureInfo.InvariantCulture),
            "--workers", workers.ToString(CultureInfo.InvariantCulture), "--slots", slots.ToString(CultureInfo.InvariantCulture),
        ];
        var up = ChildProcess.StartRh(restart ? arguments : [.. arguments, "--no-restart"]);
        try
        {
            var (line, _) = await up.WaitForLineAsync(l => l.StartsWith("ready: ", StringComparison.Ordinal), ReadyTimeout);
            var match = ReadyLine().Match(line);
            Assert.True(match.Success, $"unexpected ready line: {line}");
            Assert.Equal($"127.0.0.1:{basePort},127.0.0.1:{basePort + 1},127.0.0.1:{basePort + 2}", match.Groups["heads"].Value);
            Assert.Equal(workers, int.Parse(match.Groups["workers"].Value, CultureInfo.InvariantCulture));
            return new RhUpCluster(up, basePort, long.Parse(match.Groups["leader"].Value, CultureInfo.InvariantCulture));
        }
        catch
        {
            await StopAsync(up);
            throw;
        }
    }

    /// <summary><c>rh status --json</c> through the given heads, else all three (the members they name are asked too).</summary>
    public async Task<ClusterStatus> StatusAsync(string? heads = null, int waitSeconds = 0)
    {
        var arguments = new List<string> { RhServerProcess.RhDll, "status", "--json", "--heads", heads ?? string.Join(',', Heads) };
        if (waitSeconds > 0)
        {
            arguments.Add("--wait");
            arguments.Add(waitSeconds.ToString(CultureInfo.InvariantCulture));
        }

        var result = await ProcessRunner.RunAsync(RhServerProcess.DotnetHost, arguments, CliTimeout + TimeSpan.FromSeconds(waitSeconds));
        return new ClusterStatus(result);
    }

    /// <summary>kill -9 of the current leader head, by the pid it reports; returns who it was.</summary>
    public async Task<(long Id, int Pid)> KillLeaderAsync()
    {
        var status = await StatusAsync();
        var leader = status.Leader ?? throw new InvalidOperationException($"no leader known:\n{status.Result.Describe()}");
        var pid = status.Member(leader).Pid ?? throw new InvalidOperationException($"leader {leader} reports no pid:\n{status.Result.Describe()}");
        Assert.True(PosixSignals.KillNow(pid), $"could not kill pid {pid} of head {leader}");
        return (leader, pid);
    }

    /// <summary>
    /// kill -9 of the current leader head, by the pid it reports through GetNodeStatus (no CLI start-up in between, so
    /// the kill lands when the caller asks).
    /// </summary>
    public async Task<(long Id, int Pid)> KillLeaderAsync(GrpcChannels channels)
    {
        var answers = await Task.WhenAll(Heads.Select(async head =>
        {
            try
            {
                return await new ReapiClients(channels.For(head)).Admin.GetNodeStatusAsync(new GetNodeStatusRequest(), deadline: DateTime.UtcNow.AddSeconds(5));
            }
            catch (RpcException)
            {
                return null;
            }
        }));
        var leader = answers.Where(a => a is { Role: NodeRole.Leader }).MaxBy(a => a!.Term)
            ?? throw new InvalidOperationException("no head says it leads");
        Assert.True(PosixSignals.KillNow(leader.Pid), $"could not kill pid {leader.Pid} of head {leader.NodeId}");
        return (leader.NodeId, leader.Pid);
    }

    /// <summary>
    /// The process of the worker with this id: <c>rh up</c> names it worker-N in the prefix of its ready line, and its
    /// data directory ends in worker-N.
    /// </summary>
    public int WorkerProcessId(string workerId)
    {
        var ready = Up.Log.Split('\n').Select(l => WorkerReadyLine().Match(l)).FirstOrDefault(m => m.Success && m.Groups["id"].Value == workerId)
            ?? throw new InvalidOperationException($"rh up printed no ready line of worker {workerId}:\n{Up.Log}");
        var data = $"/{ready.Groups["name"].Value}";
        foreach (var pid in ChildrenOf(Up.ProcessId))
        {
            string[] arguments;
            try
            {
                arguments = File.ReadAllText($"/proc/{pid}/cmdline").Split('\0');
            }
            catch (IOException)
            {
                continue;
            }

            var at = Array.IndexOf(arguments, "--data");
            if (arguments.Contains("worker") && at >= 0 && at + 1 < arguments.Length && arguments[at + 1].EndsWith(data, StringComparison.Ordinal))
            {
                return pid;
            }
        }

        throw new InvalidOperationException($"no child of rh up runs {ready.Groups["name"].Value} (worker {workerId})");
    }

    public async ValueTask DisposeAsync() => await StopAsync(Up);

    /// <summary>Every process whose parent is <paramref name="pid"/> (from /proc).</summary>
    public static List<int> ChildrenOf(int pid)
    {
        var children = new List<int>();
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out var candidate))
            {
                continue;
            }

            try
            {
                var stat = File.ReadAllText(Path.Combine(directory, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                if (int.Parse(fields[1], CultureInfo.InvariantCulture) == pid)
                {
                    children.Add(candidate);
                }
            }
            catch (IOException)
            {
                // Gone meanwhile.
            }
        }

        return children;
    }

    private static async Task StopAsync(ChildProcess up)
    {
        var children = up.HasExited ? [] : ChildrenOf(up.ProcessId);
        await up.DisposeAsync();
        foreach (var child in children)
        {
            // rh up stops its children itself; whatever it left (it was killed, or failed to) goes here.
            PosixSignals.KillNow(child);
        }
    }

    private static int FreeConsecutivePorts(int count)
    {
        for (var attempt = 0; attempt < 100; attempt++)
        {
            var first = Ports.Free(1)[0];
            if (first + count - 1 > IPEndPoint.MaxPort)
            {
                continue;
            }

            var listeners = new List<TcpListener>();
            try
            {
                for (var i = 0; i < count; i++)
                {
                    var listener = new TcpListener(IPAddress.Loopback, first + i);
                    listener.Start();
                    listeners.Add(listener);
                }

                return first;
            }
            catch (SocketException)
            {
                // One of the following ports is taken; try elsewhere.
            }
            finally
            {
                foreach (var listener in listeners)
                {
                    listener.Stop();
                }
            }
        }

        throw new InvalidOperationException($"found no {count} consecutive free loopback ports");
    }

    [GeneratedRegex(@"^ready: grpc://(?<heads>\S+) leader=(?<leader>\d+) workers=(?<workers>\d+)$")]
    private static partial Regex ReadyLine();

    [GeneratedRegex(@"^(?<name>worker-\d+) \| ready: worker (?<id>\S+) ")]
    private static partial Regex WorkerReadyLine();
}
