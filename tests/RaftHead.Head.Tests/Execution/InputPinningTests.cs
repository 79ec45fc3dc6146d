using Build.Bazel.Remote.Execution.V2;
using RaftHead.Protocol;
using ReapiAction = Build.Bazel.Remote.Execution.V2.Action;
using ReapiDirectory = Build.Bazel.Remote.Execution.V2.Directory;

namespace RaftHead.Head.Tests.Execution;

/// <summary>Inputs of admitted work survive eviction pressure until the work completes.</summary>
public sealed class InputPinningTests
{
    private const long CasMaxBytes = 1L << 20;

    [Fact]
    public async Task A_running_actions_inputs_are_never_evicted_and_are_released_when_it_completes()
    {
        await using var fixture = await ExecutionFixture.StartAsync(casMaxBytes: CasMaxBytes, segmentBytes: CasMaxBytes / 4);
        var actionDigest = await fixture.PutActionAsync("pinned");
        var action = ReapiAction.Parser.ParseFrom(await ReadAsync(fixture, actionDigest));
        var root = ReapiDirectory.Parser.ParseFrom(await ReadAsync(fixture, action.InputRootDigest));
        var inputs = new List<Digest> { action.InputRootDigest, root.Files[0].Digest };

        using var call = fixture.Execute(actionDigest);
        var run = await fixture.Runner.NextRunAsync();

        // Three times the store's bound in fresh blobs: everything unpinned and older than them must go.
        await FloodAsync(fixture, 3 * CasMaxBytes);
        Assert.True(fixture.Head.CacheStats().Total.Evictions > 0, "the flood evicted nothing; the test proves nothing");
        Assert.Empty(await MissingAsync(fixture, inputs));

        run.Complete(exitCode: 0);
        await ExecutionFixture.ReadUntilDoneAsync(call.ResponseStream);

        // Released: the same pressure now evicts them.
        await FloodAsync(fixture, 3 * CasMaxBytes);
        Assert.NotEmpty(await MissingAsync(fixture, inputs));
    }

    /// <summary>Small blobs, so they share segments with the inputs and the active segment rolls over.</summary>
    private static async Task FloodAsync(ExecutionFixture fixture, long bytes)
    {
        const int blobBytes = 4000;
        var random = new Random((int)(bytes ^ fixture.Head.CacheStats().Total.Blobs));
        for (long written = 0; written < bytes; written += blobBytes)
        {
            var data = new byte[blobBytes];
            random.NextBytes(data);
            await fixture.Store.PutAsync("", Digests.Compute(data), data, CancellationToken.None);
        }
    }

    private static async Task<List<Digest>> MissingAsync(ExecutionFixture fixture, List<Digest> digests)
    {
        var missing = new List<Digest>();
        await fixture.Store.FindMissingAsync("", digests, missing, CancellationToken.None);
        return missing;
    }

    private static async Task<byte[]> ReadAsync(ExecutionFixture fixture, Digest digest)
    {
        await using var stream = (await fixture.Store.OpenReadAsync("", digest, 0, 0, CancellationToken.None))!;
        var bytes = new byte[digest.SizeBytes];
        await stream.ReadExactlyAsync(bytes);
        return bytes;
    }
}
