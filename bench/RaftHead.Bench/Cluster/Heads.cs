using Grpc.Core;
using Grpc.Net.Client;
using RaftHead.Protocol.Client;
using RaftHead.Protocol.V1;

namespace RaftHead.Bench.Cluster;

/// <summary>Channels to three heads and what their node status says about the leader.</summary>
internal sealed class Heads : IDisposable
{
    private readonly GrpcChannel[] _channels;

    public Heads(IReadOnlyList<string> endpoints)
    {
        Endpoints = endpoints;
        _channels = endpoints.Select(e => GrpcChannels.Create(new Uri("http://" + e), new GrpcChannelSettings())).ToArray();
        Clients = _channels.Select(c => new ReapiClients(c)).ToArray();
    }

    public IReadOnlyList<string> Endpoints { get; }

    public ReapiClients[] Clients { get; }

    /// <summary>Every head's answer (null where it gave none in time).</summary>
    public async Task<GetNodeStatusResponse?[]> LookAsync(CancellationToken cancellationToken)
    {
        var asks = Clients.Select(async c =>
        {
            try
            {
                return await c.Admin.GetNodeStatusAsync(new GetNodeStatusRequest(), deadline: DateTime.UtcNow.AddSeconds(1), cancellationToken: cancellationToken).ConfigureAwait(false);
            }
            catch (RpcException)
            {
                return null;
            }
        });
        return await Task.WhenAll(asks).ConfigureAwait(false);
    }

    /// <summary>
    /// Waits until all three answer, one of them leads, and every member has applied what the leader holds (give or take
    /// a few entries in flight); returns the leader's index in <see cref="Endpoints"/> and its answer.
    /// </summary>
    public async Task<(int Index, GetNodeStatusResponse Answer)> HealthyAsync(TimeSpan within, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + within;
        while (true)
        {
            var answers = await LookAsync(cancellationToken).ConfigureAwait(false);
            var leader = Array.FindIndex(answers, a => a?.Role == NodeRole.Leader);
            if (leader >= 0 && Array.TrueForAll(answers, a => a is not null && a.LeaderId == answers[leader]!.NodeId && answers[leader]!.LastIndex - a.AppliedIndex <= 16))
            {
                return (leader, answers[leader]!);
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException($"the heads were not all healthy within {within.TotalSeconds:0} s: " + string.Join("; ", answers.Select((a, i) => $"{Endpoints[i]}: {(a is null ? "no answer" : $"{a.Role} term {a.Term} applied {a.AppliedIndex}/{a.LastIndex}")}")));
            }

            await Task.Delay(100, cancellationToken).ConfigureAwait(false);
        }
    }

    public void Dispose()
    {
        foreach (var channel in _channels)
        {
            channel.Dispose();
        }
    }
}
