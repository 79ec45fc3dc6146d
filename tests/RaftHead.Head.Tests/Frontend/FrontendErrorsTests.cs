using Grpc.Core;
using RaftHead.Consensus.Core;
using RaftHead.Consensus.Driver;
using RaftHead.Consensus.Log;
using RaftHead.Consensus.Membership;
using RaftHead.Consensus.Transport;
using RaftHead.Head.Frontend;
using RaftHead.Head.Scheduling;
using RaftHead.Protocol;
using RaftHead.Protocol.V1;

namespace RaftHead.Head.Tests.Frontend;

/// <summary>Consensus failures reach clients as statuses they can act on: whom to retry against, and when.</summary>
public sealed class FrontendErrorsTests
{
    [Fact]
    public async Task A_replica_without_a_leader_answers_unavailable_and_says_so()
    {
        // Three members, no peer reachable: this node never leads and knows no leader.
        var machine = new ObservedStateMachine(new SchedulerStateMachine(), new ChangeFeed());
        await using var driver = new RaftDriver(
            new RaftDriverOptions { Raft = new RaftConfig { NodeId = 1, ElectionTicks = 3 }, TickMs = 10, RandomSeed = 3 },
            new MemoryRaftStorage(new ClusterMembership([1, 2, 3])),
            machine,
            new Unreachable());
        driver.Start();
        var log = new RaftSchedulerLog(driver, machine, TimeSpan.FromSeconds(1));
        Assert.False(log.Leader.IsLeader);

        var register = new SchedulerCommand { RegisterWorker = new RegisterWorker { WorkerId = "w", Slots = 1 } };
        var error = await Assert.ThrowsAsync<RpcException>(() => log.ProposeAsync(register, CancellationToken.None));
        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
        Assert.Contains("not the leader", error.Status.Detail, StringComparison.Ordinal);
        Assert.True(LeaderHint.IsNoLeader(error), "a refusal for want of any leader does not say so in its trailers");
    }

    [Fact]
    public void A_known_leader_is_named_with_its_address()
    {
        var error = FrontendErrors.FromConsensus(new NotLeaderException(2, 3, "127.0.0.1:8982"), TimeSpan.FromSeconds(1));
        Assert.NotNull(error);
        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
        Assert.Contains("node 3 at 127.0.0.1:8982", error.Status.Detail, StringComparison.Ordinal);
        Assert.Equal("127.0.0.1:8982", LeaderHint.From(error));
        Assert.False(LeaderHint.IsNoLeader(error));
    }

    [Fact]
    public void An_overloaded_log_answers_resource_exhausted_with_retry_info()
    {
        var error = FrontendErrors.FromConsensus(new RaftOverloadedException(1, RaftOverloadReason.RequestQueueFull), TimeSpan.FromMilliseconds(250));
        Assert.NotNull(error);
        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
        Assert.Equal(TimeSpan.FromMilliseconds(250), error.GetDetail<Google.Rpc.RetryInfo>()!.RetryDelay.ToTimeSpan());
        Assert.Null(FrontendErrors.FromConsensus(new InvalidOperationException("a bug"), TimeSpan.Zero));
    }

    private sealed class Unreachable : IRaftTransport
    {
        public bool Send(Message message) => false;

        public string? AddressOf(long nodeId) => null;
    }
}
