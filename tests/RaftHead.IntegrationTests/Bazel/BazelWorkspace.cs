using System.Globalization;
using Xunit.Abstractions;

namespace RaftHead.IntegrationTests.Bazel;

/// <summary>
/// Runs the real <c>bazel</c> client in one workspace with a private output root (so nothing touches the
/// user's ~/.cache/bazel), without the user's ~/.bazelrc, and with every invocation bounded in time.
/// <see cref="ShutdownAsync"/> stops the Bazel server it started; as a backstop the server also exits on
/// its own after a short idle time.
/// </summary>
public sealed class BazelWorkspace
{
    public static readonly TimeSpan InvocationTimeout = TimeSpan.FromMinutes(5);

    private static readonly TimeSpan ShutdownTimeout = TimeSpan.FromMinutes(1);

    private readonly string _bazel;
    private readonly ITestOutputHelper _output;

    public BazelWorkspace(string bazel, string directory, string outputUserRoot, ITestOutputHelper output)
    {
        _bazel = bazel;
        Directory = directory;
        OutputUserRoot = outputUserRoot;
        _output = output;
    }

    public string Directory { get; }

    public string OutputUserRoot { get; }

    /// <summary>The <c>bazel</c> on PATH, or null.</summary>
    public static string? Locate()
    {
        foreach (var folder in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(folder, "bazel");
            if (File.Exists(candidate) && (File.GetUnixFileMode(candidate) & UnixFileMode.UserExecute) != 0)
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>Runs <c>bazel &lt;command&gt; &lt;arguments&gt;</c> and logs the command and its outcome.</summary>
    public async Task<ProcessResult> RunAsync(string command, params string[] arguments)
    {
        string[] startup =
        [
            "--nohome_rc",
            $"--output_user_root={OutputUserRoot}",
            // A server left behind by a crashed test run goes away by itself.
            "--max_idle_secs=300",
        ];
        var environment = new Dictionary<string, string?>
        {
            // Under `bazel test` these would redirect the output root; they must not leak in.
            ["TEST_TMPDIR"] = null,
            ["BAZELISK_SKIP_WRAPPER"] = null,
        };
        var result = await ProcessRunner.RunAsync(_bazel, [.. startup, command, .. arguments], InvocationTimeout, Directory, environment);
        _output.WriteLine($"$ {result.Command}\n  exit code {result.ExitCode} after {result.Elapsed.TotalSeconds:F1} s");
        return result;
    }

    /// <summary>
    /// <c>bazel shutdown</c>; then, should a server of this output root still be alive (the shutdown timed out
    /// or failed), kills it by the process id it recorded.
    /// </summary>
    public async Task ShutdownAsync()
    {
        if (!System.IO.Directory.Exists(OutputUserRoot))
        {
            return;
        }

        try
        {
            var result = await ProcessRunner.RunAsync(_bazel, ["--nohome_rc", $"--output_user_root={OutputUserRoot}", "shutdown"], ShutdownTimeout, Directory);
            if (!result.Succeeded)
            {
                _output.WriteLine($"bazel shutdown failed:\n{result.Describe()}");
            }
        }
        catch (TimeoutException e)
        {
            _output.WriteLine(e.Message);
        }

        foreach (var pidFile in System.IO.Directory.EnumerateFiles(OutputUserRoot, "server.pid.txt", SearchOption.AllDirectories))
        {
            if (int.TryParse(File.ReadAllText(pidFile).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && IsOurServer(pid))
            {
                _output.WriteLine($"Bazel server {pid} outlived 'bazel shutdown'; killing it");
                try
                {
                    using var process = System.Diagnostics.Process.GetProcessById(pid);
                    process.Kill(entireProcessTree: true);
                    using var cts = new CancellationTokenSource(ShutdownTimeout);
                    await process.WaitForExitAsync(cts.Token);
                }
                catch (Exception e) when (e is ArgumentException or InvalidOperationException or OperationCanceledException)
                {
                    // Gone already.
                }
            }
        }
    }

    /// <summary>True when the process is alive and its command line names our output root (not a reused id).</summary>
    private bool IsOurServer(int pid)
    {
        try
        {
            var commandLine = File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ');
            return commandLine.Contains(OutputUserRoot, StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }
}
