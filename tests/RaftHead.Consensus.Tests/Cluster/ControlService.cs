using System.Text.Json;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using RaftHead.Consensus.Driver;
using RaftHead.Consensus.Tests.Protos;

namespace RaftHead.Consensus.Tests.Cluster;

/// <summary>
/// The test nodes' tiny control API (<c>Protos/control.proto</c>): put through the leader, linearizable get on
/// any replica (ReadIndex, then the local store), and the node's Raft status as JSON. A request the driver refuses
/// for back-pressure (<see cref="RaftOverloadedException"/>) is RESOURCE_EXHAUSTED; not leader is FAILED_PRECONDITION.
/// </summary>
internal sealed class ControlService : Control.ControlBase
{
    private readonly RaftDriver _driver;
    private readonly KvStateMachine _store;
    private readonly StageClock? _stageClock;

    public ControlService(RaftDriver driver, KvStateMachine store, StageClock? stageClock = null)
    {
        _driver = driver;
        _store = store;
        _stageClock = stageClock;
    }

    public override async Task<BytesValue> Put(BytesValue request, ServerCallContext context)
    {
        try
        {
            var start = System.Diagnostics.Stopwatch.GetTimestamp();
            var result = await _driver.ProposeAsync(request.Value.Memory, context.CancellationToken);
            if (_stageClock is not null && StageClock.TryParseIndex(result, out var index)) _stageClock.OnReplied(index, start);
            return new BytesValue { Value = ByteString.CopyFrom(result) };
        }
        catch (NotLeaderException e)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, $"not leader; leader={e.LeaderId}"));
        }
        catch (RaftOverloadedException e)
        {
            // Back-pressure: nothing was proposed, so the client may retry the same put later.
            throw new RpcException(new Status(StatusCode.ResourceExhausted, $"overloaded ({e.Reason}): {e.Message}"));
        }
    }

    public override async Task<StringValue> Get(StringValue request, ServerCallContext context)
    {
        try
        {
            await _driver.ReadAsync(context.CancellationToken);
        }
        catch (RaftOverloadedException e)
        {
            throw new RpcException(new Status(StatusCode.ResourceExhausted, $"overloaded ({e.Reason}): {e.Message}"));
        }
        catch (OperationCanceledException)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, "no read index confirmed before the deadline"));
        }
        return new StringValue { Value = _store.Get(request.Value) ?? throw new RpcException(new Status(StatusCode.NotFound, $"no key {request.Value}")) };
    }

    public override Task<StringValue> Status(Empty request, ServerCallContext context) =>
        Task.FromResult(new StringValue { Value = JsonSerializer.Serialize(NodeStatus.From(_driver.Status)) });
}
