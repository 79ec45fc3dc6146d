using Build.Bazel.Remote.Execution.V2;
using RaftHead.Head.Frontend;
using RaftHead.Protocol;

namespace RaftHead.Head.Tests.Frontend;

public sealed class CachedAnswersTests
{
    private static readonly Digest Action = Digests.Compute("action"u8);

    [Theory]
    [InlineData("")]
    [InlineData("main")]
    [InlineData("a/b")]
    [InlineData("x/cached")]
    [InlineData("cached")]
    [InlineData("team/cached/builds")]
    public void A_name_gives_back_its_instance_and_digest(string instance)
    {
        var name = CachedAnswers.Name(instance, Action);
        Assert.True(CachedAnswers.TryParse(name, out var parsedInstance, out var parsedDigest));
        Assert.Equal(instance, parsedInstance);
        Assert.Equal(Action, parsedDigest);
    }

    [Theory]
    [InlineData("operations/7")]
    [InlineData("operations/seed-12")]
    [InlineData("cached/")]
    [InlineData("cached/abc-1")]
    [InlineData("/cached/0000000000000000000000000000000000000000000000000000000000000000-1")]
    [InlineData("cached/0000000000000000000000000000000000000000000000000000000000000000")]
    [InlineData("cached/0000000000000000000000000000000000000000000000000000000000000000--1")]
    [InlineData("cached/0000000000000000000000000000000000000000000000000000000000000000-x")]
    [InlineData("cached/0000000000000000000000000000000000000000000000000000000000000000-99999999999999999999")]
    public void Other_names_are_not_cached_answers(string name) =>
        Assert.False(CachedAnswers.TryParse(name, out _, out _));
}
