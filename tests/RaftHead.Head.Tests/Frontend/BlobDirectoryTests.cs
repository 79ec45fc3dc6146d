using Build.Bazel.Remote.Execution.V2;
using RaftHead.Head.Frontend;
using RaftHead.Protocol;
using RaftHead.Protocol.V1;

namespace RaftHead.Head.Tests.Frontend;

public sealed class BlobDirectoryTests
{
    private static readonly Digest Big = Digests.Compute(new byte[200_000]);
    private static readonly Digest Medium = Digests.Compute(new byte[90_000]);

    [Fact]
    public void Holders_follow_reports_evictions_and_forgotten_workers()
    {
        var directory = new BlobDirectory(perWorkerMax: 10);
        Assert.True(directory.IsEmpty);
        directory.Update("w1", [Big, Medium], []);
        directory.Update("w2", [Big], []);
        Assert.Equal(["w1", "w2"], HoldersOf(directory, Big));

        directory.Update("w1", [], [Big]);
        Assert.Equal(["w2"], HoldersOf(directory, Big));
        Assert.True(directory.Holds("w1", Medium));

        directory.Forget("w2");
        Assert.Empty(HoldersOf(directory, Big));
        directory.Forget("w1");
        Assert.True(directory.IsEmpty);
    }

    [Fact]
    public void A_worker_is_held_to_its_bound()
    {
        var directory = new BlobDirectory(perWorkerMax: 1);
        directory.Update("w1", [Big, Medium], []);
        Assert.True(directory.Holds("w1", Big));
        Assert.False(directory.Holds("w1", Medium));
        Assert.Empty(HoldersOf(directory, Medium));
    }

    [Fact]
    public void Locality_scores_sum_the_hinted_bytes_each_worker_holds()
    {
        var directory = new BlobDirectory(perWorkerMax: 10);
        Assert.Null(LocalityScores.For(directory));
        directory.Update("w1", [Medium], []);
        directory.Update("w2", [Big, Medium], []);
        var score = LocalityScores.For(directory)!;
        var operation = new OperationState { Name = "operations/1", InputHints = { Big, Medium } };
        Assert.Equal(Big.SizeBytes + Medium.SizeBytes, score(operation, "w2"));
        Assert.Equal(Medium.SizeBytes, score(operation, "w1"));
        Assert.Equal(0, score(operation, "w3"));
        Assert.Equal(0, score(new OperationState { Name = "operations/2" }, "w2"));
    }

    private static List<string> HoldersOf(BlobDirectory directory, Digest digest)
    {
        var holders = new List<string>();
        directory.HoldersOf(digest, holders);
        holders.Sort(StringComparer.Ordinal);
        return holders;
    }
}
