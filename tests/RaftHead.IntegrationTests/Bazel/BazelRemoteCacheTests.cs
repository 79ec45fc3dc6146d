using Xunit.Abstractions;

namespace RaftHead.IntegrationTests.Bazel;

/// <summary>
/// Debian's Bazel (bazel-bootstrap 4.2.3) against a real <c>rh serve</c> process with <c>--remote_cache</c>:
/// the first build of tests/fixtures/cc-workspace (a genrule-generated header, a cc_library, a cc_binary and a
/// genrule that runs the binary as a tool) executes locally and uploads; after <c>bazel clean --expunge</c>
/// the second build runs nothing locally, every process is a remote cache hit, and the outputs are
/// byte-identical.
/// </summary>
public sealed class BazelRemoteCacheTests
{
    private readonly ITestOutputHelper _output;

    public BazelRemoteCacheTests(ITestOutputHelper output)
    {
        _output = output;
    }

    [Fact]
    public async Task SecondBuildAfterCleanExpungeIsAllRemoteCacheHitsWithIdenticalOutputs()
    {
        await using var session = await CcWorkspaceSession.StartAsync(_output);
        if (session is null)
        {
            return;
        }

        var flags = CcWorkspaceSession.Flags($"--remote_cache=grpc://{session.Server.Endpoint}", "--remote_upload_local_results");

        // 1. A cold build: everything runs here and is uploaded.
        var first = await session.BuildAsync(flags);
        Assert.Equal(0, first.RemoteCacheHits);
        Assert.True(first.RanLocally > 0, $"The first build ran nothing locally: {first}");
        var uploaded = await session.Server.CacheStatsAsync();
        _output.WriteLine($"after the first build: {uploaded}");
        Assert.True(uploaded.ActionResults > 0 && uploaded.Blobs > 0, $"Nothing was uploaded: {uploaded}");

        var bin = await session.BazelBinAsync(flags);
        var before = session.HashOutputs(bin);
        await CcWorkspaceSession.AssertProgramOutputAsync(bin);

        // 2. Forget everything local: the output base, the in-memory caches, the Bazel server.
        await session.RunAsync("clean", "--expunge");
        Assert.False(Directory.Exists(bin), $"bazel clean --expunge left {bin} behind");

        // 3. A second build: every process is answered by the remote cache, none runs here.
        var second = await session.BuildAsync(flags);
        Assert.True(
            second.RanLocally == 0,
            $"The second build ran {second.RanLocally} process(es) locally instead of hitting the remote cache: {second}");
        Assert.Equal(first.RanLocally, second.RemoteCacheHits);
        Assert.Equal(first.Total, second.Total);
        Assert.Equal(new HashSet<string> { BazelProcessSummary.RemoteCacheHit, BazelProcessSummary.Internal }, second.ByKind.Keys.ToHashSet());

        var binAgain = await session.BazelBinAsync(flags);
        Assert.Equal(bin, binAgain);
        var after = session.HashOutputs(binAgain);
        foreach (var output in CcWorkspaceSession.Outputs)
        {
            Assert.True(before[output] == after[output], $"{output} differs after the cache round trip: {before[output]} then {after[output]}");
        }

        await CcWorkspaceSession.AssertProgramOutputAsync(binAgain);

        var stats = await session.Server.CacheStatsAsync();
        _output.WriteLine($"after the second build: {stats}");
        Assert.True(stats.Hits > 0, $"rh counted no action cache hits: {stats}");
        Assert.True(stats.Hits >= second.RemoteCacheHits, $"rh counted {stats.Hits} hits, Bazel reported {second.RemoteCacheHits}: {stats}");
        Assert.Equal(0, stats.Incomplete);
    }
}
