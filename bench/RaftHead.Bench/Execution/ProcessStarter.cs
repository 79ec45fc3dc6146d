using System.Diagnostics;
using RaftHead.Worker;

namespace RaftHead.Bench.Execution;

/// <summary>
/// Starts <c>/bin/true</c> directly: bare (<c>Process.Start</c> + <c>WaitForExit</c>), with the runner's redirections
/// and empty environment, through the runner's whole wrapper chain (setsid, unshare --net, setpriv, built from the same
/// <see cref="Isolation"/> the head's runner probed), and through parts of that chain, so the process-start cost an
/// Execute pays can be split link by link.
/// </summary>
internal sealed class ProcessStarter
{
    public const string Bare = "/bin/true, Process.Start + WaitForExit";
    public const string Redirected = "/bin/true, runner's redirections + empty env";
    public const string Chain = "wrapper chain as the runner starts it";
    public const string SetsidOnly = "part of the chain: setsid /bin/true";
    public const string SetsidUnshare = "part of the chain: setsid unshare --net /bin/true";
    public const string SetsidSetpriv = "part of the chain: setsid setpriv … /bin/true";
    public const string SetsidUnshareAsUser = "alternative: setsid unshare --net -S uid -G gid /bin/true";

    private const string Setsid = "/usr/bin/setsid";
    private const string Unshare = "/usr/bin/unshare";
    private const string Setpriv = "/usr/bin/setpriv";

    private readonly Isolation _isolation;
    private readonly string _workingDirectory;

    public ProcessStarter(Isolation isolation, string workingDirectory)
    {
        _isolation = isolation;
        _workingDirectory = workingDirectory;
    }

    /// <summary>Every kind this machine can start, in the order the report lists them.</summary>
    public IReadOnlyList<string> Kinds
    {
        get
        {
            var kinds = new List<string> { Bare, Redirected, Chain, SetsidOnly };
            if (_isolation.OwnNetworkNamespace)
            {
                kinds.Add(SetsidUnshare);
            }

            if (_isolation.User is not null)
            {
                kinds.Add(SetsidSetpriv);
                if (_isolation.OwnNetworkNamespace)
                {
                    kinds.Add(SetsidUnshareAsUser);
                }
            }

            return kinds;
        }
    }

    /// <summary>The chain's command line, for the report.</summary>
    public string ChainText => string.Join(' ', Arguments(Chain).Prepend(Setsid).Select(a => a.StartsWith("/usr/bin/", StringComparison.Ordinal) ? a["/usr/bin/".Length..] : a));

    /// <summary>Starts one process of the kind and waits for it; throws unless it exits 0.</summary>
    public async Task RunOnceAsync(string kind, CancellationToken cancellationToken)
    {
        if (kind == Bare)
        {
            using var bare = Process.Start(new ProcessStartInfo("/bin/true") { UseShellExecute = false })
                ?? throw new InvalidOperationException("/bin/true did not start");
            bare.WaitForExit();
            Check(bare.ExitCode, kind);
            return;
        }

        // As ActionRunner.ExecuteAsync: all three streams redirected, stdin closed, stdout/stderr pumped, async wait.
        var start = new ProcessStartInfo(kind == Redirected ? "/bin/true" : Setsid)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = _workingDirectory,
        };
        if (kind != Redirected)
        {
            foreach (var argument in Arguments(kind))
            {
                start.ArgumentList.Add(argument);
            }
        }

        start.Environment.Clear();
        using var process = new Process { StartInfo = start };
        process.Start();
        process.StandardInput.Close();
        var pumpOut = process.StandardOutput.BaseStream.CopyToAsync(Stream.Null, CancellationToken.None);
        var pumpErr = process.StandardError.BaseStream.CopyToAsync(Stream.Null, CancellationToken.None);
        await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        await Task.WhenAll(pumpOut, pumpErr).ConfigureAwait(false);
        Check(process.ExitCode, kind);
    }

    /// <summary>The arguments after <c>setsid</c>.</summary>
    private IEnumerable<string> Arguments(string kind)
    {
        var user = _isolation.User;
        if ((kind == Chain && _isolation.OwnNetworkNamespace) || kind == SetsidUnshare || kind == SetsidUnshareAsUser)
        {
            yield return Unshare;
            yield return "--net";
        }

        if (kind == SetsidUnshareAsUser && user is not null)
        {
            // unshare -G clears the supplementary groups (setgroups(0, NULL)) before setgid, then -S sets the uid.
            yield return $"--setgid={user.Gid}";
            yield return $"--setuid={user.Uid}";
        }

        if ((kind == Chain || kind == SetsidSetpriv) && user is not null)
        {
            yield return Setpriv;
            yield return $"--reuid={user.Uid}";
            yield return $"--regid={user.Gid}";
            yield return "--clear-groups";
            yield return "--";
        }

        yield return "/bin/true";
    }

    private static void Check(int exitCode, string kind)
    {
        if (exitCode != 0)
        {
            throw new InvalidOperationException($"Benchmark self-check failed: {kind} exited {exitCode}.");
        }
    }
}
