using System.Diagnostics;
using System.Globalization;
using Grpc.Net.Client;
using RaftHead.Head.Frontend;
using RaftHead.Protocol.Client;
using RaftHead.Testing;

namespace RaftHead.Head.Tests.Cluster;

/// <summary>
/// Three replicated heads in this process on loopback ports, each with its own data directory, Raft log and CAS, as
/// <c>rh head</c> runs them. A head can be stopped (as a crash would: nothing of it answers any more) and started again
/// on its data.
/// </summary>
internal sealed class ThreeHeads : IAsyncDisposable
{
    public static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(30);

    private readonly TempDirectory _root;
    private readonly Dictionary<long, string> _members;
    private readonly HeadNode?[] _heads = new HeadNode?[3];
    private readonly Dictionary<string, GrpcChannel> _channels = new(StringComparer.Ordinal);
    private readonly FrontendOptions _frontend;

    private ThreeHeads(TempDirectory root, Dictionary<long, string> members, FrontendOptions frontend)
    {
        _root = root;
        _members = members;
        _frontend = frontend;
    }

    public IReadOnlyDictionary<long, string> Members => _members;

    /// <param name="frontend">Every head's frontend settings; default: retries at once.</param>
    public static async Task<ThreeHeads> StartAsync(FrontendOptions? frontend = null)
    {
        var ports = Ports.Free(3);
        var members = new Dictionary<long, string>();
        for (var i = 0; i < 3; i++)
        {
            members[i + 1] = string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{ports[i]}");
        }

        var cluster = new ThreeHeads(new TempDirectory("rh-three-heads-"), members, frontend ?? new FrontendOptions { RetryBackoffBaseMs = 1, RetryBackoffMaxMs = 1 });
        try
        {
            for (long id = 1; id <= 3; id++)
            {
                await cluster.StartHeadAsync(id);
            }

            await cluster.LeaderAsync();
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    public HeadNode Head(long id) => _heads[id - 1] ?? throw new InvalidOperationException($"head {id} is stopped");

    public bool IsRunning(long id) => _heads[id - 1] is not null;

    public async Task StartHeadAsync(long id)
    {
        if (_heads[id - 1] is not null)
        {
            throw new InvalidOperationException($"head {id} runs already");
        }

        _heads[id - 1] = await HeadNode.StartAsync(
            new HeadNodeOptions
            {
                NodeId = id,
                Members = _members,
                Port = int.Parse(_members[id].AsSpan(_members[id].LastIndexOf(':') + 1), CultureInfo.InvariantCulture),
                DataDirectory = _root.Combine("head-" + id.ToString(CultureInfo.InvariantCulture)),
                CasMaxBytes = 1L << 30,
                ExecutionEnabled = true,
                RaftTickMs = 20,
                ElectionTicks = 10,
                Frontend = _frontend,
                Cas = SmallCas.Options(""),
            },
            CancellationToken.None);
    }

    /// <summary>Stops a head; its clients see UNAVAILABLE, its peers a silent replica.</summary>
    public async Task StopHeadAsync(long id)
    {
        var head = _heads[id - 1] ?? throw new InvalidOperationException($"head {id} is stopped");
        _heads[id - 1] = null;
        await head.DisposeAsync();
    }

    /// <summary>The id of the head every running head agrees leads, once they do (bounded wait).</summary>
    public async Task<long> LeaderAsync(long except = 0)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            long leader = 0;
            var agreed = true;
            foreach (var head in _heads)
            {
                if (head is null)
                {
                    continue;
                }

                var status = head.Raft;
                if (status.Leader == 0 || (leader != 0 && status.Leader != leader))
                {
                    agreed = false;
                    break;
                }

                leader = status.Leader;
            }

            if (agreed && leader != 0 && leader != except && IsRunning(leader) && Head(leader).Raft.IsLeader)
            {
                return leader;
            }

            if (clock.Elapsed > WaitLimit)
            {
                throw new TimeoutException($"no leader agreed on within {WaitLimit.TotalSeconds:0} s");
            }

            await Task.Delay(10);
        }
    }

    /// <summary>A running head that does not lead.</summary>
    public async Task<long> FollowerAsync()
    {
        var leader = await LeaderAsync();
        for (long id = 1; id <= 3; id++)
        {
            if (id != leader && IsRunning(id))
            {
                return id;
            }
        }

        throw new InvalidOperationException("no follower runs");
    }

    public ReapiClients Clients(long id)
    {
        var address = _members[id];
        if (!_channels.TryGetValue(address, out var channel))
        {
            channel = GrpcChannels.Create(new Uri("http://" + address), new GrpcChannelSettings { RetryAttemptsMax = 1 });
            _channels[address] = channel;
        }

        return new ReapiClients(channel);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var channel in _channels.Values)
        {
            channel.Dispose();
        }

        for (long id = 1; id <= 3; id++)
        {
            if (IsRunning(id))
            {
                await StopHeadAsync(id);
            }
        }

        _root.Dispose();
    }
}
