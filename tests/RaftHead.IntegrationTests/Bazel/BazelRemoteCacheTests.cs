using System.Security.Cryptography;
using Xunit.Abstractions;

namespace RaftHead.IntegrationTests.Bazel;

/// <summary>
/// Debian's Bazel (bazel-bootstrap 4.2.3) against a real <c>rh serve</c> process with <c>--remote_cache</c>:
/// the first build of tests/fixtures/cc-workspace (a genrule-generated header, a cc_library, a cc_binary and a
/// genrule that runs the binary as a tool) executes locally and uploads; after <c>bazel clean --expunge</c>
/// the second build runs nothing locally, every process is a remote cache hit, and the outputs are
/// byte-identical.
/// </summary>
public sealed class BazelRemoteCacheTests : IAsyncLifetime
{
    private const string GreetVersion = "1.2.3";

    /// <summary>Outputs under bazel-bin whose bytes must survive the round trip through the cache.</summary>
    private static readonly string[] Outputs =
    [
        "app/hello",
        "app/greeting.txt",
        "greet/libgreet.a",
        "greet/libgreet.so",
        "greet/version.h",
    ];

    private readonly ITestOutputHelper _output;
    private TempDirectory? _temp;
    private RhServerProcess? _server;
    private BazelWorkspace? _bazel;

    public BazelRemoteCacheTests(ITestOutputHelper output)
    {
        _output = output;
    }

    public static string FixturePath => Path.Combine(AppContext.BaseDirectory, "fixtures", "cc-workspace");

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        try
        {
            if (_bazel is not null)
            {
                await _bazel.ShutdownAsync();
            }
        }
        finally
        {
            try
            {
                if (_server is not null)
                {
                    await _server.DisposeAsync();
                }
            }
            finally
            {
                _temp?.Dispose();
            }
        }
    }

    [Fact]
    public async Task SecondBuildAfterCleanExpungeIsAllRemoteCacheHitsWithIdenticalOutputs()
    {
        if (BazelWorkspace.Locate() is not { } bazelPath)
        {
            const string message = "bazel is not on PATH; run scripts/install-test-deps.sh (it installs Debian's bazel-bootstrap).";
            Assert.False(string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase), message);
            _output.WriteLine("NOT RUN: " + message);
            return;
        }

        Assert.True(Directory.Exists(FixturePath), $"The fixture workspace is missing from the test output: {FixturePath}");
        _temp = new TempDirectory("rh-bazel-");
        var workspace = _temp.Combine("workspace");
        CopyDirectory(FixturePath, workspace);
        _server = await RhServerProcess.StartAsync(_temp.Combine("rh-data"));
        _output.WriteLine($"rh serve pid {_server.ProcessId} on {_server.Endpoint}");
        _bazel = new BazelWorkspace(bazelPath, workspace, _temp.Combine("bazel-root"), _output);

        string[] flags =
        [
            $"--remote_cache=grpc://{_server.Endpoint}",
            "--remote_upload_local_results",
            "--disk_cache=",
            // Action keys must not depend on this machine's PATH (also in the fixture's .bazelrc).
            "--incompatible_strict_action_env",
            // No bazel-* symlinks in the workspace; plain, parseable output.
            "--symlink_prefix=/",
            "--color=no",
            "--curses=no",
        ];

        // 1. A cold build: everything runs here and is uploaded.
        var first = await BuildAsync(flags);
        Assert.Equal(0, first.RemoteCacheHits);
        Assert.True(first.RanLocally > 0, $"The first build ran nothing locally: {first}");
        var uploaded = await _server.CacheStatsAsync();
        _output.WriteLine($"after the first build: {uploaded}");
        Assert.True(uploaded.ActionResults > 0 && uploaded.Blobs > 0, $"Nothing was uploaded: {uploaded}");

        var bin = await BazelBinAsync(flags);
        var before = HashOutputs(bin);
        await AssertProgramOutputAsync(bin);

        // 2. Forget everything local: the output base, the in-memory caches, the Bazel server.
        await RunBazelAsync("clean", "--expunge");
        Assert.False(Directory.Exists(bin), $"bazel clean --expunge left {bin} behind");

        // 3. A second build: every process is answered by the remote cache, none runs here.
        var second = await BuildAsync(flags);
        Assert.True(
            second.RanLocally == 0,
            $"The second build ran {second.RanLocally} process(es) locally instead of hitting the remote cache: {second}");
        Assert.Equal(first.RanLocally, second.RemoteCacheHits);
        Assert.Equal(first.Total, second.Total);
        Assert.Equal(new HashSet<string> { BazelProcessSummary.RemoteCacheHit, BazelProcessSummary.Internal }, second.ByKind.Keys.ToHashSet());

        var binAgain = await BazelBinAsync(flags);
        Assert.Equal(bin, binAgain);
        var after = HashOutputs(binAgain);
        foreach (var output in Outputs)
        {
            Assert.True(before[output] == after[output], $"{output} differs after the cache round trip: {before[output]} then {after[output]}");
        }

        await AssertProgramOutputAsync(binAgain);

        var stats = await _server.CacheStatsAsync();
        _output.WriteLine($"after the second build: {stats}");
        Assert.True(stats.Hits > 0, $"rh counted no action cache hits: {stats}");
        Assert.True(stats.Hits >= second.RemoteCacheHits, $"rh counted {stats.Hits} hits, Bazel reported {second.RemoteCacheHits}: {stats}");
        Assert.Equal(0, stats.Incomplete);
    }

    private async Task<BazelProcessSummary> BuildAsync(string[] flags)
    {
        var result = await RunBazelAsync("build", [.. flags, "//..."]);
        var summary = BazelProcessSummary.Parse(result.StandardError + result.StandardOutput);
        _output.WriteLine("  " + summary.Line);
        return summary;
    }

    private async Task<string> BazelBinAsync(string[] flags)
    {
        var result = await RunBazelAsync("info", [.. flags, "bazel-bin"]);
        var bin = result.StandardOutput.Trim();
        Assert.True(Path.IsPathFullyQualified(bin), $"bazel info bazel-bin printed '{bin}'");
        return bin;
    }

    private async Task<ProcessResult> RunBazelAsync(string command, params string[] arguments)
    {
        var result = await _bazel!.RunAsync(command, arguments);
        Assert.True(result.Succeeded, $"bazel {command} failed.\n{result.Describe()}\n--- rh serve ---\n{_server?.Log}");
        return result;
    }

    private Dictionary<string, string> HashOutputs(string bin)
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
    private static async Task AssertProgramOutputAsync(string bin)
    {
        var run = await ProcessRunner.RunAsync(Path.Combine(bin, "app", "hello"), ["CI"], TimeSpan.FromSeconds(30));
        Assert.True(run.Succeeded, run.Describe());
        Assert.Equal(ExpectedProgramOutput("CI"), run.StandardOutput);
        Assert.Equal(ExpectedProgramOutput("RaftHead"), await File.ReadAllTextAsync(Path.Combine(bin, "app", "greeting.txt")));
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
