using System.Diagnostics;
using RaftHead.Worker.Sandbox;

namespace RaftHead.Worker;

/// <summary>What separates an action from the host, decided once at start-up and said out loud.</summary>
public sealed record Isolation(UnixUser? User, bool OwnNetworkNamespace)
{
    public string Describe() =>
        $"actions run as {(User is null ? (LibC.GetEffectiveUserId() == 0 ? "root" : "the worker's own user") : $"user {User.Name} (uid {User.Uid})")}, " +
        $"in their own process group, {(OwnNetworkNamespace ? "without network (own network namespace)" : "WITH the host's network (no network namespace available)")}";

    /// <summary>Finds the run-as user and probes whether a network namespace can be made here.</summary>
    public static Isolation Probe(RunnerOptions options)
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

        return new Isolation(user, options.IsolateNetwork && CanUnshareNetwork());
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
