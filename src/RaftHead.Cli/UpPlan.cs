using System.Globalization;

namespace RaftHead.Cli;

/// <summary>What <c>rh up</c> starts, decided from its options before anything runs.</summary>
internal sealed record UpPlan(
    string DataDirectory,
    string WorkerDataRoot,
    string WorkerDataNote,
    IReadOnlyList<string> HeadEndpoints,
    string Peers,
    int Workers,
    int? Slots,
    string? RunAs,
    bool Restart)
{
    private const int Heads = 3;
    private const int WorkersMax = 64;

    /// <summary>Where workers keep their data when the run-as user could not reach the data directory (as the worker's own default does).</summary>
    public const string PrivilegedWorkerRoot = "/var/lib/rafthead/up";

    /// <param name="privilegedWorkerRoot">
    /// Where workers keep their data when the run-as user could not reach <paramref name="data"/>; one per cluster, so
    /// two clusters on a machine keep apart.
    /// </param>
    public static UpPlan Create(string data, int basePort, int workers, int? slots, string? runAs, bool restart, string privilegedWorkerRoot = PrivilegedWorkerRoot)
    {
        if (basePort < 1 || basePort > 65535 - (Heads - 1))
        {
            throw new UsageException($"--base-port {basePort}: the heads need ports {basePort}..{basePort + Heads - 1}, within 1..65535");
        }

        if (workers < 0 || workers > WorkersMax)
        {
            throw new UsageException($"--workers {workers} must be between 0 and {WorkersMax}");
        }

        if (slots is < 1)
        {
            throw new UsageException($"--slots {slots} must be at least 1");
        }

        if (string.IsNullOrWhiteSpace(data))
        {
            throw new UsageException("--data names no directory");
        }

        var directory = Path.GetFullPath(data);
        var endpoints = new List<string>(Heads);
        var peers = new List<string>(Heads);
        for (var i = 0; i < Heads; i++)
        {
            var endpoint = "127.0.0.1:" + (basePort + i).ToString(CultureInfo.InvariantCulture);
            endpoints.Add(endpoint);
            peers.Add($"{i + 1}={endpoint}");
        }

        // Actions run as the run-as user only when rh runs as root; that user must walk down to each worker's
        // sandboxes, which a data directory under a private home (mode 0700) would not allow.
        var workerRoot = directory;
        var note = "";
        if (Environment.IsPrivilegedProcess && UnsearchableAncestor(directory) is { } closed)
        {
            workerRoot = privilegedWorkerRoot;
            note = $" ({closed} is not searchable by others, so the run-as user could not reach workers under {directory})";
        }

        return new UpPlan(directory, workerRoot, note, endpoints, string.Join(',', peers), workers, slots, runAs, restart);
    }

    /// <summary>Heads first (they stop last), then workers, each as this program's own command line.</summary>
    public List<ChildSpec> Children(string fileName, string? prefix)
    {
        var children = new List<ChildSpec>(Heads + Workers);
        for (var id = 1; id <= Heads; id++)
        {
            var arguments = Arguments(prefix, "head", "--id", id.ToString(CultureInfo.InvariantCulture), "--peers", Peers, "--data", Path.Combine(DataDirectory, $"head-{id}"));
            children.Add(new ChildSpec($"head-{id}", fileName, arguments) { Restart = Restart, StopOrder = 1 });
        }

        for (var n = 1; n <= Workers; n++)
        {
            var arguments = Arguments(prefix, "worker", "--heads", string.Join(',', HeadEndpoints), "--data", Path.Combine(WorkerDataRoot, $"worker-{n}"));
            if (Slots is { } slots)
            {
                arguments.Add("--slots");
                arguments.Add(slots.ToString(CultureInfo.InvariantCulture));
            }

            if (RunAs is { Length: > 0 } user)
            {
                arguments.Add("--run-as");
                arguments.Add(user);
            }

            children.Add(new ChildSpec($"worker-{n}", fileName, arguments) { Restart = Restart, StopOrder = 0 });
        }

        return children;
    }

    private static List<string> Arguments(string? prefix, params string[] arguments)
    {
        var list = new List<string>(arguments.Length + 5);
        if (prefix is not null)
        {
            list.Add(prefix);
        }

        list.AddRange(arguments);
        return list;
    }

    /// <summary>The first existing directory on the path (itself included) that others cannot search, if any.</summary>
    private static string? UnsearchableAncestor(string directory)
    {
        for (var dir = directory; !string.IsNullOrEmpty(dir); dir = Path.GetDirectoryName(dir))
        {
            if (Directory.Exists(dir) && (File.GetUnixFileMode(dir) & UnixFileMode.OtherExecute) == 0)
            {
                return dir;
            }
        }

        return null;
    }
}
