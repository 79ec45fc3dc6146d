using RaftHead.Consensus.Replication;

namespace RaftHead.Consensus.Tests.Units;

public sealed class InflightsTests
{
    [Fact]
    public void The_window_fills_frees_in_order_and_wraps_around()
    {
        var window = new Inflights(3);
        window.Add(10);
        window.Add(20);
        window.Add(30);
        Assert.True(window.Full);
        Assert.Throws<InvalidOperationException>(() => window.Add(40));

        window.FreeLessOrEqual(20);
        Assert.Equal(1, window.Count);
        window.Add(40);
        window.Add(50);
        Assert.True(window.Full);
        window.FreeFirstOne();
        Assert.Equal(2, window.Count);
        window.FreeLessOrEqual(100);
        Assert.Equal(0, window.Count);
    }
}
