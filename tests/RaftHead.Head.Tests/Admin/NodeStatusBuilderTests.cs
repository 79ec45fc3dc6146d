using RaftHead.Consensus.Core;
using RaftHead.Consensus.Driver;
using RaftHead.Consensus.Membership;
using RaftHead.Head.Admin;
using RaftHead.Head.Frontend;
using RaftHead.Head.Tests.Scheduling;
using RaftHead.Protocol.V1;
using static RaftHead.Head.Tests.Scheduling.Commands;

namespace RaftHead.Head.Tests.Admin;

public sealed class NodeStatusBuilderTests
{
    private static readonly Dictionary<long, string> Members = new()
    {
        [1] = "127.0.0.1:8980",
        [2] = "127.0.0.1:8981",
        [3] = "127.0.0.1:8982",
    };

    private static readonly NodeProcess Process = new(4242, new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero));

    private static RaftStatus Raft(RaftRole role, long leader, string? leaderAddress = null) =>
        new(2, role, 7, leader, leaderAddress, CommitIndex: 40, AppliedIndex: 39, SnapshotIndex: 0, LastIndex: 41, new ClusterMembership([1, 2, 3]), 0, 0);

    /// <summary>Two workers, one holding a lease; three operations queued at two (platform, priority) lines.</summary>
    private static Scheduler Busy()
    {
        var scheduler = new Scheduler();
        scheduler.Ok(Register("w-a", slots: 4, platform: Platform("OSFamily=linux")));
        scheduler.Ok(Register("w-b", slots: 2, platform: Platform("OSFamily=linux")));
        var leased = scheduler.Submit(Submit("r1", action: "a", platform: Platform("OSFamily=linux")));
        scheduler.Submit(Submit("r2", action: "b", platform: Platform("OSFamily=linux")));
        scheduler.Submit(Submit("r3", action: "c", platform: Platform("OSFamily=linux"), priority: -1));
        scheduler.Submit(Submit("r4", action: "d", platform: Platform("OSFamily=linux"), priority: -1));
        scheduler.Ok(Assign(1_000, (leased, "w-a", 1)));
        return scheduler;
    }

    [Fact]
    public void A_leader_reports_its_raft_position_members_workers_with_heartbeat_ages_and_queues()
    {
        var scheduler = Busy();
        var soft = new WorkerSoftState(16);
        soft.Seen("w-a", 9_000);

        var status = NodeStatusBuilder.Build(Raft(RaftRole.Leader, leader: 2), "127.0.0.1:8981", Members, scheduler.State, soft, nowUnixMs: 10_250, Process);

        Assert.Equal(2, status.NodeId);
        Assert.Equal("127.0.0.1:8981", status.Address);
        Assert.Equal(4242, status.Pid);
        Assert.Equal(Process.StartedAt, status.StartedAt.ToDateTimeOffset());
        Assert.Equal(NodeRole.Leader, status.Role);
        Assert.Equal((7L, 2L, "127.0.0.1:8981"), (status.Term, status.LeaderId, status.LeaderAddress));
        Assert.Equal((40L, 39L, 41L), (status.CommitIndex, status.AppliedIndex, status.LastIndex));
        Assert.Equal(["1=127.0.0.1:8980", "2=127.0.0.1:8981", "3=127.0.0.1:8982"], status.Members.Select(m => $"{m.Id}={m.Address}"));
        Assert.All(status.Members, m => Assert.True(m.Voter));

        Assert.Equal(["w-a", "w-b"], status.Workers.Select(w => w.WorkerId));
        var a = status.Workers[0];
        Assert.Equal((4u, 1u), (a.Slots, a.Leased));
        Assert.Equal(1_250, a.LastHeartbeatAgeMs);
        Assert.Equal("linux", Assert.Single(a.Platform.Properties).Value);
        var b = status.Workers[1];
        Assert.Equal(0u, b.Leased);
        Assert.False(b.HasLastHeartbeatAgeMs, "a worker not heard from since this node led has no age");

        // Serving order: the lower (more urgent) priority first.
        Assert.Equal([(-1, 2), (0, 1)], status.Queues.Select(q => (q.Priority, q.Depth)));
        Assert.All(status.Queues, q => Assert.Contains("linux", q.PlatformKey, StringComparison.Ordinal));
        Assert.Equal((3, 1), (status.Queued, status.Leased));
    }

    [Fact]
    public void Workers_carry_their_capacity_what_their_leases_reserve_and_the_heartbeat_timing_they_are_held_to()
    {
        var scheduler = new Scheduler();
        scheduler.Ok(Register("w-big", slots: 4, gpus: 2, cpuMillis: 16_000, memoryBytes: 64UL << 30, at: 5_000, leaseAhead: 1));
        var op = scheduler.Submit(Submit("r1", action: "a", cpuMillis: 2_500, memoryBytes: 3UL << 30));
        scheduler.Ok(Assign(6_000, (op, "w-big", 1)));
        var frontend = new FrontendOptions { HeartbeatIntervalMs = 750, HeartbeatTtlMs = 9_000 };

        var status = NodeStatusBuilder.Build(Raft(RaftRole.Leader, leader: 2), "127.0.0.1:8981", Members, scheduler.State, new WorkerSoftState(16), 10_000, Process, frontend);

        var w = Assert.Single(status.Workers);
        Assert.Equal((16_000u, 64UL << 30, 2u, 1u), (w.CpuMillis, w.MemoryBytes, w.Gpus, w.LeaseAhead));
        Assert.Equal((1u, 2_500UL, 3UL << 30), (w.Leased, w.CpuMillisLeased, w.MemoryBytesLeased));
        Assert.Equal(5_000, w.RegisteredAt.ToDateTimeOffset().ToUnixTimeMilliseconds());
        Assert.Equal((750, 9_000), (status.HeartbeatIntervalMs, status.HeartbeatTtlMs));
    }

    [Fact]
    public void A_follower_names_the_leader_by_its_configured_address_and_gives_no_heartbeat_ages()
    {
        var scheduler = Busy();
        var soft = new WorkerSoftState(16);
        soft.Seen("w-a", 9_000);

        var status = NodeStatusBuilder.Build(Raft(RaftRole.Follower, leader: 3, leaderAddress: "http://127.0.0.1:8982/"), "127.0.0.1:8981", Members, scheduler.State, soft, 10_000, Process);

        Assert.Equal(NodeRole.Follower, status.Role);
        Assert.Equal("127.0.0.1:8982", status.LeaderAddress);
        Assert.Equal(2, status.Workers.Count);
        Assert.All(status.Workers, w => Assert.False(w.HasLastHeartbeatAgeMs));
    }

    [Fact]
    public void Without_a_leader_the_leader_fields_are_empty_and_a_member_missing_from_the_peers_is_still_listed()
    {
        var raft = Raft(RaftRole.Candidate, leader: 0) with { Membership = new ClusterMembership([1, 2, 3, 4]) };

        var status = NodeStatusBuilder.Build(raft, "127.0.0.1:8981", Members, new Scheduler().State, new WorkerSoftState(16), 10_000, Process);

        Assert.Equal(NodeRole.Candidate, status.Role);
        Assert.Equal((0L, ""), (status.LeaderId, status.LeaderAddress));
        Assert.Equal([1L, 2, 3, 4], status.Members.Select(m => m.Id));
        Assert.Equal("", status.Members[3].Address);
        Assert.Empty(status.Workers);
        Assert.Empty(status.Queues);
    }
}
