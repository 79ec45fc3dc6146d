using System.Security.Cryptography;
using RaftHead.Testing;
using Xunit.Abstractions;

namespace RaftHead.IntegrationTests.Bazel;

/// <summary>
/// One run of Debian's Bazel over a private copy of tests/fixtures/cc-workspace against a real <c>rh serve</c>
/// process: the workspace, the server and the Bazel server, all stopped and removed on dispose. Knows the
/// fixture's outputs and what its program prints.
/// </summary>
public sealed class CcWorkspaceSession : IAsyncDisposable
{
    private const string GreetVersion = "1.2.3";

    /// <summary>Outputs under bazel-bin whose bytes must survive a round trip through the cache.</summary>
    public static readonly string[] Outputs =
    [
        "app/hello",
        "app/greeting.txt",
        "greet/libgreet.a",
        "greet/libgreet.so",
        "greet/version.h",
    ];

    private readonly ITestOutputHelper _output;
    private readonly TempDirectory _temp;
    private readonly BazelWorkspace _bazel;

    private CcWorkspaceSession(ITestOutputHelper output, TempDirectory temp, RhServerProcess server, BazelWorkspace bazel)
    {
        _output = output;
        _temp = temp;
        Server = server;
        _bazel = bazel;
    }

    public static string FixturePath => Path.Combine(AppContext.BaseDirectory, "fixtures", "cc-workspace");

    public RhServerProcess Server { get; }

    /// <summary>
    /// Starts the server and prepares the workspace; null (after noting why) when bazel is missing outside CI.
    /// In CI a missing bazel fails the test.
    /// </summary>
    public static async Task<CcWorkspaceSession?> StartAsync(ITestOutputHelper output, params string[] serveArguments)
    {
        if (BazelWorkspace.Locate() is not { } bazelPath)
        {
            const string message = "bazel is not on PATH; run scripts/install-test-deps.sh (it installs Debian's bazel-bootstrap).";
            Assert.False(string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase), message);
            output.WriteLine("NOT RUN: " + message);
            return null;
        }

        Assert.True(Directory.Exists(FixturePath), $"The fixture workspace is missing from the test output: {FixturePath}");
        var temp = new TempDirectory("rh-bazel-");
        try
        {
            // The run-as user of --exec must be able to reach its sandboxes inside the data directory.
            File.SetUnixFileMode(temp.Path, (UnixFileMode)0x1ED);
            var workspace = temp.Combine("workspace");
            CopyDirectory(FixturePath, workspace);
            var server = await RhServerProcess.StartAsync(temp.Combine("rh-data"), serveArguments);
            output.WriteLine($"rh serve pid {server.ProcessId} on {server.Endpoint}");
            return new CcWorkspaceSession(output, temp, server, new BazelWorkspace(bazelPath, workspace, temp.Combine("bazel-root"), output));
        }
        catch
        {
            temp.Dispose();
            throw;
        }
    }

    /// <summary>Flags every build of the session shares: the remote flag plus deterministic, parseable output.</summary>
    public static string[] Flags(params string[] remote) =>
    [
        .. remote,
        "--disk_cache=",
        // Action keys must not depend on this machine's PATH (also in the fixture's .bazelrc).
        "--incompatible_strict_action_env",
        // No bazel-* symlinks in the workspace; plain, parseable output.
        "--symlink_prefix=/",
        "--color=no",
        "--curses=no",
    ];

    public async Task<BazelProcessSummary> BuildAsync(string[] flags)
    {
        var result = await RunAsync("build", [.. flags, "//..."]);
        var summary = BazelProcessSummary.Parse(result.StandardError + result.StandardOutput);
        _output.WriteLine("  " + summary.Line);
        return summary;
    }

    public async Task<string> BazelBinAsync(string[] flags)
    {
        var result = await RunAsync("info", [.. flags, "bazel-bin"]);
        var bin = result.StandardOutput.Trim();
        Assert.True(Path.IsPathFullyQualified(bin), $"bazel info bazel-bin printed '{bin}'");
        return bin;
    }

    public async Task<ProcessResult> RunAsync(string command, params string[] arguments)
    {
        var result = await _bazel.RunAsync(command, arguments);
        Assert.True(result.Succeeded, $"bazel {command} failed.\n{result.Describe()}\n--- rh serve ---\n{Server.Log}");
        return result;
    }

    public Dictionary<string, string> HashOutputs(string bin)
    {
        var hashes = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var output in Outputs)
        {
            var path = Path.Combine(bin, output);
            Assert.True(File.Exists(path), $"bazel-bin/{output} was not built");
            using var stream = File.OpenRead(path);
            hashes[output] = Convert.ToHexStringLower(SHA256.HashData(stream));
            _output.WriteLine($"  {hashes[output]}  {output}");
        }

        return hashes;
    }

    /// <summary>Runs the built binary, and checks the genrule's copy of its output.</summary>
    public static async Task AssertProgramOutputAsync(string bin)
    {
        var run = await ProcessRunner.RunAsync(Path.Combine(bin, "app", "hello"), ["CI"], TimeSpan.FromSeconds(30));
        Assert.True(run.Succeeded, run.Describe());
        Assert.Equal(ExpectedProgramOutput("CI"), run.StandardOutput);
        Assert.Equal(ExpectedProgramOutput("RaftHead"), await File.ReadAllTextAsync(Path.Combine(bin, "app", "greeting.txt")));
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _bazel.ShutdownAsync();
        }
        finally
        {
            try
            {
                await Server.DisposeAsync();
            }
            finally
            {
                _temp.Dispose();
            }
        }
    }

    /// <summary>What app/main.cc prints: the greeting and its FNV-1a checksum, computed here independently.</summary>
    private static string ExpectedProgramOutput(string name)
    {
        var text = $"Hello, {name}! (greet {GreetVersion})";
        var hash = 2166136261u;
        foreach (var b in System.Text.Encoding.UTF8.GetBytes(text))
        {
            hash ^= b;
            hash = unchecked(hash * 16777619u);
        }

        return $"{text}\nchecksum {hash}\n";
    }

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }
}
