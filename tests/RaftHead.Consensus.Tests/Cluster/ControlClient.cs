using System.Text.Json;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Grpc.Net.Client;
using RaftHead.Consensus.Tests.Protos;
using RaftHead.Protocol.Client;

namespace RaftHead.Consensus.Tests.Cluster;

/// <summary>Talks to the test nodes' control API: status of each node, puts through the leader, linearizable gets.</summary>
public sealed class ControlClient : IDisposable
{
    private static readonly TimeSpan StatusTimeout = TimeSpan.FromMilliseconds(500);
    private readonly Dictionary<long, GrpcChannel> _channels;
    private readonly Dictionary<long, Control.ControlClient> _clients;

    public ControlClient(IReadOnlyDictionary<long, string> members)
    {
        // Owned channels without retries: a test sees each failure (a killed node must look dead, not slow).
        var settings = new GrpcChannelSettings { RetryAttemptsMax = 1, ConnectTimeoutMs = 500 };
        _channels = members.ToDictionary(m => m.Key, m => GrpcChannels.Create(GrpcChannels.ParseEndpoint(m.Value), settings));
        _clients = _channels.ToDictionary(c => c.Key, c => new Control.ControlClient(c.Value));
    }

    public async Task<NodeStatus?> StatusAsync(long id)
    {
        try
        {
            var json = await _clients[id].StatusAsync(new Empty(), deadline: DateTime.UtcNow + StatusTimeout);
            return JsonSerializer.Deserialize<NodeStatus>(json.Value);
        }
        catch (RpcException)
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
        var result = await _clients[nodeId].PutAsync(
            new BytesValue { Value = ByteString.CopyFrom(KvStateMachine.Put(key, value)) },
            deadline: DateTime.UtcNow + timeout);
        return long.Parse(result.Value.ToStringUtf8(), System.Globalization.CultureInfo.InvariantCulture);
    }

    public async Task<string> GetAsync(long nodeId, string key, TimeSpan timeout) =>
        (await _clients[nodeId].GetAsync(new StringValue { Value = key }, deadline: DateTime.UtcNow + timeout)).Value;

    public void Dispose()
    {
        foreach (var channel in _channels.Values) channel.Dispose();
    }
}
