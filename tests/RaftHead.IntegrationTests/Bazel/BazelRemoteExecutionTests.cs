using System.Text.Json;
using Xunit.Abstractions;

namespace RaftHead.IntegrationTests.Bazel;

/// <summary>
/// Debian's Bazel against <c>rh serve --exec</c> with <c>--remote_executor</c>: every action of the fixture runs
/// remotely in the sandboxed runner and the built program works; after <c>bazel clean --expunge</c> the rebuild
/// is all remote cache hits with identical outputs; and a build with <c>--remote_download_minimal</c> succeeds.
/// </summary>
public sealed class BazelRemoteExecutionTests
{
    private readonly ITestOutputHelper _output;

    public BazelRemoteExecutionTests(ITestOutputHelper output)
    {
        _output = output;
    }

    [Fact]
    public async Task EveryActionRunsRemotelyThenRebuildsFromTheCacheAlsoWithMinimalDownloads()
    {
        await using var session = await CcWorkspaceSession.StartAsync(_output, "--exec", "--slots", "2");
        if (session is null)
        {
            return;
        }

        var flags = CcWorkspaceSession.Flags($"--remote_executor=grpc://{session.Server.Endpoint}");

        var first = await session.BuildAsync(flags);
        Assert.True(first.Count("remote") > 0, $"Nothing ran remotely: {first}");
        Assert.Equal(new HashSet<string> { "remote", BazelProcessSummary.Internal }, first.ByKind.Keys.ToHashSet());
        var bin = await session.BazelBinAsync(flags);
        var before = session.HashOutputs(bin);
        await CcWorkspaceSession.AssertProgramOutputAsync(bin);

        // The server saw each remote process as an operation that completed with exit 0.
        var ops = await ProcessRunner.RunAsync(
            RhServerProcess.DotnetHost,
            [RhServerProcess.RhDll, "ops", "--json", "--limit", "0", "--endpoint", session.Server.Endpoint],
            TimeSpan.FromSeconds(60));
        Assert.True(ops.Succeeded, ops.Describe());
        using (var json = JsonDocument.Parse(ops.StandardOutput))
        {
            var operations = json.RootElement.GetProperty("operations").EnumerateArray().ToList();
            Assert.Equal(first.Count("remote"), operations.Count);
            Assert.All(operations, op => Assert.Equal("COMPLETED", op.GetProperty("stage").GetString()));
        }

        await session.RunAsync("clean", "--expunge");
        var second = await session.BuildAsync(flags);
        Assert.Equal(first.Count("remote"), second.RemoteCacheHits);
        Assert.Equal(0, second.Count("remote"));
        var after = session.HashOutputs(await session.BazelBinAsync(flags));
        foreach (var output in CcWorkspaceSession.Outputs)
        {
            Assert.True(before[output] == after[output], $"{output} differs after the rebuild: {before[output]} then {after[output]}");
        }

        await session.RunAsync("clean", "--expunge");
        var minimal = await session.BuildAsync([.. flags, "--remote_download_minimal"]);
        Assert.True(minimal.RanLocally == minimal.Count("remote"), $"With minimal downloads something ran locally: {minimal}");
    }
}
