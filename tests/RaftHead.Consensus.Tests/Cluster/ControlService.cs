using System.Text.Json;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using RaftHead.Consensus.Driver;
using RaftHead.Rpc;
using RaftHead.Rpc.Server;

namespace RaftHead.Consensus.Tests.Cluster;

/// <summary>
/// The test nodes' tiny control API over our RPC: put through the leader, linearizable get on any replica
/// (ReadIndex, then the local store), and the node's Raft status as JSON.
/// </summary>
public static class ControlService
{
    public const string ServiceName = "rafthead.test.v1.Control";

    public static readonly Method<BytesValue, BytesValue> Put = new(ServiceName, "Put", MethodType.Unary, BytesValue.Parser, BytesValue.Parser);

    public static readonly Method<StringValue, StringValue> Get = new(ServiceName, "Get", MethodType.Unary, StringValue.Parser, StringValue.Parser);

    public static readonly Method<Empty, StringValue> Status = new(ServiceName, "Status", MethodType.Unary, Empty.Parser, StringValue.Parser, idempotent: true);

    public static ServiceDefinition Create(RaftDriver driver, KvStateMachine store) =>
        new ServiceBuilder(ServiceName)
            .Unary(Put, async (request, context) =>
            {
                try
                {
                    var result = await driver.ProposeAsync(request.Value.Memory, context.CancellationToken);
                    return new BytesValue { Value = ByteString.CopyFrom(result) };
                }
                catch (NotLeaderException e)
                {
                    throw new RpcException(StatusCode.FailedPrecondition, $"not leader; leader={e.LeaderId}");
                }
            })
            .Unary(Get, async (request, context) =>
            {
                try
                {
                    await driver.ReadAsync(context.CancellationToken);
                }
                catch (OperationCanceledException)
                {
                    throw new RpcException(StatusCode.Unavailable, "no read index confirmed before the deadline");
                }
                return new StringValue { Value = store.Get(request.Value) ?? throw new RpcException(StatusCode.NotFound, $"no key {request.Value}") };
            })
            .Unary(Status, (_, _) => ValueTask.FromResult(new StringValue { Value = JsonSerializer.Serialize(NodeStatus.From(driver.Status)) }))
            .Build();
}
