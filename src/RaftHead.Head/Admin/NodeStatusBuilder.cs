using Google.Protobuf.WellKnownTypes;
using RaftHead.Consensus.Core;
using RaftHead.Consensus.Driver;
using RaftHead.Head.Frontend;
using RaftHead.Head.Scheduling;
using RaftHead.Protocol.V1;

namespace RaftHead.Head.Admin;

/// <summary>
/// Assembles a node's <see cref="GetNodeStatusResponse"/> from what it already holds: the Raft driver's status, the
/// applied scheduler state, and the leader's soft knowledge of its workers. No clock inside; the caller says when now is.
/// </summary>
public static class NodeStatusBuilder
{
    /// <param name="raft">The driver's latest status.</param>
    /// <param name="address">This node's host:port.</param>
    /// <param name="members">Every configured node, id to host:port (this one included).</param>
    /// <param name="state">The scheduler state at this node's applied index.</param>
    /// <param name="workers">Heartbeat times; only the leader's are current (a follower's is empty or stale).</param>
    /// <param name="nowUnixMs">Now, to turn heartbeat times into ages.</param>
    /// <param name="process">This node's process; <see cref="NodeProcess.Current"/> when null.</param>
    /// <param name="frontend">The heartbeat timing workers are held to, so a reader can judge an age; unknown when null.</param>
    public static GetNodeStatusResponse Build(
        RaftStatus raft,
        string address,
        IReadOnlyDictionary<long, string> members,
        SchedulerState state,
        WorkerSoftState workers,
        long nowUnixMs,
        NodeProcess? process = null,
        FrontendOptions? frontend = null)
    {
        ArgumentNullException.ThrowIfNull(raft);
        ArgumentNullException.ThrowIfNull(members);
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(workers);
        process ??= NodeProcess.Current;
        var response = new GetNodeStatusResponse
        {
            NodeId = raft.NodeId,
            Address = address,
            Pid = process.Pid,
            StartedAt = Timestamp.FromDateTimeOffset(process.StartedAt),
            Role = Role(raft.Role),
            Term = raft.Term,
            LeaderId = raft.Leader,
            LeaderAddress = LeaderAddress(raft, members),
            CommitIndex = raft.CommitIndex,
            AppliedIndex = raft.AppliedIndex,
            LastIndex = raft.LastIndex,
            Queued = state.QueuedCount,
            Leased = state.LeasedCount,
            HeartbeatIntervalMs = frontend?.HeartbeatIntervalMs ?? 0,
            HeartbeatTtlMs = frontend?.HeartbeatTtlMs ?? 0,
        };
        AddMembers(response, raft, members);
        // The soft state is only the leader's: a follower's could hold ages from a past term, which would mislead.
        var heartbeatsKnown = raft.IsLeader;
        foreach (var (id, worker) in state.Workers)
        {
            var usage = state.UsageOf(id);
            var status = new WorkerStatus
            {
                WorkerId = id,
                Slots = worker.Slots,
                Leased = (uint)(usage?.Slots ?? 0),
                Platform = worker.Platform,
                Retiring = worker.Retiring,
                CpuMillis = worker.CpuMillis,
                MemoryBytes = worker.MemoryBytes,
                Gpus = worker.Gpus,
                LeaseAhead = worker.LeaseAhead,
                CpuMillisLeased = (ulong)Math.Max(0, usage?.CpuMillis ?? 0),
                MemoryBytesLeased = usage?.MemoryBytes ?? 0,
                RegisteredAt = worker.RegisteredAtUnixMs > 0 ? Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(worker.RegisteredAtUnixMs)) : null,
                QuarantineReason = worker.QuarantineReason,
                QuarantinedAt = worker.QuarantineReason.Length > 0 && worker.QuarantinedAtUnixMs > 0
                    ? Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(worker.QuarantinedAtUnixMs))
                    : null,
            };
            if (heartbeatsKnown && workers.LastSeenUnixMs(id) is { } seen)
            {
                status.LastHeartbeatAgeMs = Math.Max(0, nowUnixMs - seen);
            }

            response.Workers.Add(status);
        }

        foreach (var (queue, depth) in state.QueueDepths())
        {
            response.Queues.Add(new QueueDepth { PlatformKey = queue.PlatformKey, Priority = queue.Priority, Depth = depth });
        }

        response.Speculation = Speculation(state);
        return response;
    }

    /// <summary>
    /// What racing clones cost and won, over the operations this replica still holds: one pass, as a listing with many
    /// retained operations is built on every <c>rh status</c>.
    /// </summary>
    public static SpeculationStatus Speculation(SchedulerState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        uint started = 0, won = 0;
        long wastedMs = 0;
        foreach (var operation in state.Operations.Values)
        {
            won += SchedulerState.WinningAttempt(operation) is { Speculative: true } ? 1u : 0u;
            foreach (var attempt in operation.Attempts)
            {
                if (attempt.Speculative)
                {
                    started++;
                }

                if (attempt.Superseded)
                {
                    // A run that lost held its worker from its lease until another result won (ended_at); none recorded, none counted.
                    wastedMs += Math.Max(0, attempt.EndedAtUnixMs - attempt.LeasedAtUnixMs);
                }
            }
        }

        var status = new SpeculationStatus { ClonesStarted = started, ClonesWon = won, WastedWorkerMs = wastedMs };
        status.Nondeterminism.AddRange(state.Nondeterminism);
        return status;
    }

    private static void AddMembers(GetNodeStatusResponse response, RaftStatus raft, IReadOnlyDictionary<long, string> members)
    {
        // Configured peers and the log's membership normally agree; a node in only one of them is still listed.
        var ids = new SortedSet<long>(members.Keys);
        ids.UnionWith(raft.Membership.Members);
        foreach (var id in ids)
        {
            response.Members.Add(new ClusterMember
            {
                Id = id,
                Address = members.GetValueOrDefault(id) ?? "",
                Voter = raft.Membership.Voters.Count == 0 ? members.ContainsKey(id) : raft.Membership.IsVoter(id),
            });
        }
    }

    private static string LeaderAddress(RaftStatus raft, IReadOnlyDictionary<long, string> members)
    {
        if (raft.Leader == 0)
        {
            return "";
        }

        // The configured host:port first: the transport's form of an address may carry a scheme.
        return members.GetValueOrDefault(raft.Leader) ?? raft.LeaderAddress ?? "";
    }

    private static NodeRole Role(RaftRole role) => role switch
    {
        RaftRole.Follower => NodeRole.Follower,
        RaftRole.PreCandidate => NodeRole.PreCandidate,
        RaftRole.Candidate => NodeRole.Candidate,
        RaftRole.Leader => NodeRole.Leader,
        RaftRole.Learner => NodeRole.Learner,
        _ => NodeRole.Unspecified,
    };
}
