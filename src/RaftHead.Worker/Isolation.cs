using System.Diagnostics;
using RaftHead.Worker.Sandbox;
using RaftHead.Worker.Spawn;

namespace RaftHead.Worker;

/// <summary>What separates an action from the host, decided once at start-up and said out loud.</summary>
public sealed record Isolation(UnixUser? User, bool OwnNetworkNamespace)
{
    /// <summary>
    /// Actions are started with posix_spawn from a thread already in their user and network namespace (one namespace
    /// for all of this runner's actions); false: through the setsid and unshare programs, see <see cref="SpawnFallback"/>.
    /// </summary>
    public bool SpawnsDirectly { get; init; }

    /// <summary>Why actions go through the helper programs, when they do.</summary>
    public string? SpawnFallback { get; init; }

    public string Describe() =>
        $"actions run as {(User is null ? (LibC.GetEffectiveUserId() == 0 ? "root" : "the worker's own user") : $"user {User.Name} (uid {User.Uid})")}, " +
        $"in their own process group, {(OwnNetworkNamespace ? "without network (own network namespace)" : "WITH the host's network (no network namespace available)")}, " +
        (SpawnsDirectly ? "spawned directly (one network namespace shared by this worker's actions)" : $"spawned through setsid and unshare ({SpawnFallback})");

    /// <summary>
    /// Finds the run-as user and starts the direct spawn path, or, where that cannot run, probes whether the helper
    /// programs can make a network namespace here.
    /// </summary>
    internal static Isolation Probe(RunnerOptions options, out Spawner? spawner)
    {
        UnixUser? user = null;
        if (LibC.GetEffectiveUserId() == 0)
        {
            user = UnixUser.Find(options.RunAsUser);
            if (user is null && !options.AllowRunAsRoot)
            {
                throw new InvalidOperationException(
                    $"refusing to run actions as root: user '{options.RunAsUser}' does not exist (create it with scripts/setup-worker.sh, or allow root explicitly)");
            }
        }

        string? whyNot = "direct spawning is turned off";
        spawner = options.DirectSpawn ? Spawner.TryStart(user, options.IsolateNetwork, out whyNot) : null;
        return spawner is not null
            ? new Isolation(user, spawner.OwnNetworkNamespace) { SpawnsDirectly = true }
            : new Isolation(user, options.IsolateNetwork && CanUnshareNetwork()) { SpawnFallback = whyNot };
    }

    private static bool CanUnshareNetwork()
    {
        if (!File.Exists("/usr/bin/unshare"))
        {
            return false;
        }

        var probe = new ProcessStartInfo("/usr/bin/unshare", "--net /bin/true") { UseShellExecute = false, RedirectStandardError = true };
        using var process = Process.Start(probe);
        if (process is null)
        {
            return false;
        }

        process.StandardError.ReadToEnd();
        process.WaitForExit();
        return process.ExitCode == 0;
    }
}
