using System.Globalization;
using System.Text.Json;
using DotNext.Net.Cluster.Consensus.Raft;
using DotNext.Net.Cluster.Consensus.Raft.StateMachine;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using RaftHead.Consensus.Tests.Protos;

namespace RaftHead.Compare.DotNextNode;

/// <summary>
/// The control API of our node host, served by a DotNext node: put through the leader (FAILED_PRECONDITION "not
/// leader" elsewhere), and the status as the same JSON, so the compare runner drives both alike.
/// </summary>
internal sealed class ControlService(NodeOptions options, RaftCluster cluster, WriteAheadLog wal, KvStateMachine store) : Control.ControlBase
{
    public override async Task<BytesValue> Put(BytesValue request, ServerCallContext context)
    {
        if (cluster.LeadershipToken.IsCancellationRequested) throw NotLeader();
        var applied = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        try
        {
            await cluster.ReplicateAsync(request.Value.Memory, applied, context.CancellationToken);
        }
        catch (NotLeaderException)
        {
            throw NotLeader();
        }
        var index = await applied.Task.WaitAsync(context.CancellationToken);
        return new BytesValue { Value = ByteString.CopyFromUtf8(index.ToString(CultureInfo.InvariantCulture)) };
    }

    public override Task<StringValue> Get(StringValue request, ServerCallContext context) =>
        throw new RpcException(new Status(StatusCode.Unimplemented, "the comparison only puts"));

    public override Task<StringValue> Status(Empty request, ServerCallContext context)
    {
        var isLeader = !cluster.LeadershipToken.IsCancellationRequested;
        var status = new
        {
            NodeId = options.Id,
            Role = isLeader ? "Leader" : "Follower",
            Term = cluster.Term,
            Leader = LeaderId(),
            CommitIndex = wal.LastCommittedEntryIndex,
            AppliedIndex = store.Applied,
            SnapshotIndex = 0L,
            LastIndex = wal.LastEntryIndex,
            SnapshotsTaken = 0L,
            SnapshotsInstalled = 0L,
        };
        return Task.FromResult(new StringValue { Value = JsonSerializer.Serialize(status) });
    }

    private long LeaderId()
    {
        if (cluster.Leader?.EndPoint is not { } endpoint) return 0;
        foreach (var (id, member) in options.Members)
        {
            if (member.Equals(endpoint)) return id;
        }
        return 0;
    }

    private RpcException NotLeader() => new(new Status(StatusCode.FailedPrecondition, $"not leader; leader={LeaderId()}"));
}
