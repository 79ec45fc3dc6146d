using System.Text.Json;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using RaftHead.Rpc.Client;

namespace RaftHead.Consensus.Tests.Cluster;

/// <summary>Talks to the test nodes' control API: status of each node, puts through the leader, linearizable gets.</summary>
public sealed class ControlClient : IDisposable
{
    private readonly Dictionary<long, RpcChannel> _channels;

    public ControlClient(IReadOnlyDictionary<long, string> members) =>
        _channels = members.ToDictionary(m => m.Key, m => new RpcChannel(m.Value, new RpcChannelOptions { MaxRetryAttempts = 0, ConnectTimeout = TimeSpan.FromMilliseconds(500) }));

    public async Task<NodeStatus?> StatusAsync(long id)
    {
        try
        {
            var json = await _channels[id].UnaryAsync(ControlService.Status, new Empty(), new CallOptions { Timeout = TimeSpan.FromMilliseconds(500) });
            return JsonSerializer.Deserialize<NodeStatus>(json.Value);
        }
        catch (RaftHead.Rpc.RpcException)
        {
            return null;
        }
    }

    /// <summary>The leader among <paramref name="candidates"/> with a term above <paramref name="aboveTerm"/>, or null.</summary>
    public async Task<NodeStatus?> LeaderAsync(IEnumerable<long> candidates, long aboveTerm = 0)
    {
        var statuses = await Task.WhenAll(candidates.Select(StatusAsync));
        return statuses.Where(s => s is { IsLeader: true } && s.Term > aboveTerm).OrderByDescending(s => s!.Term).FirstOrDefault();
    }

    public async Task<long> PutAsync(long nodeId, string key, string value, TimeSpan timeout)
    {
        var result = await _channels[nodeId].UnaryAsync(
            ControlService.Put,
            new BytesValue { Value = ByteString.CopyFrom(KvStateMachine.Put(key, value)) },
            new CallOptions { Timeout = timeout });
        return long.Parse(result.Value.ToStringUtf8(), System.Globalization.CultureInfo.InvariantCulture);
    }

    public async Task<string> GetAsync(long nodeId, string key, TimeSpan timeout) =>
        (await _channels[nodeId].UnaryAsync(ControlService.Get, new StringValue { Value = key }, new CallOptions { Timeout = timeout })).Value;

    public void Dispose()
    {
        foreach (var channel in _channels.Values) channel.Dispose();
    }
}
