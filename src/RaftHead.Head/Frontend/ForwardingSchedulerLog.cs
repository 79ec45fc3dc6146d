using System.Collections.Concurrent;
using Grpc.Core;
using Grpc.Net.Client;
using RaftHead.Head.Scheduling;
using RaftHead.Protocol;
using RaftHead.Protocol.Client;
using RaftHead.Protocol.V1;

namespace RaftHead.Head.Frontend;

/// <summary>
/// Makes any replica take writes: a proposal this replica cannot make (it does not lead) is handed to the leader named
/// in the refusal (<see cref="SchedulerForwardingService"/> there), and its result is returned only once this replica
/// has applied it too, so the caller's next read of <see cref="Current"/> sees its own write. Reads and the barrier are
/// this replica's own (a follower's barrier asks the leader for the commit index itself).
/// </summary>
public sealed class ForwardingSchedulerLog : ISchedulerLog, IDisposable
{
    private readonly ISchedulerLog _local;
    private readonly string _selfAddress;
    private readonly GrpcChannelSettings _channelSettings;
    private readonly ForwardingOptions _options;
    private readonly ConcurrentDictionary<string, GrpcChannel> _channels = new(StringComparer.Ordinal);

    /// <param name="local">This replica's log.</param>
    /// <param name="selfAddress">This head's host:port, so a stale hint naming it is not followed back here.</param>
    /// <param name="channelSettings">Settings of the channels to the leaders (retries off: a proposal is not idempotent by itself).</param>
    /// <param name="options">Hops and waits.</param>
    public ForwardingSchedulerLog(ISchedulerLog local, string selfAddress, GrpcChannelSettings channelSettings, ForwardingOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(local);
        ArgumentException.ThrowIfNullOrEmpty(selfAddress);
        ArgumentNullException.ThrowIfNull(channelSettings);
        _local = local;
        _selfAddress = selfAddress;
        _channelSettings = channelSettings;
        _options = options ?? new ForwardingOptions();
    }

    public SchedulerState Current => _local.Current;

    public ChangeFeed Changes => _local.Changes;

    public LeaderInfo Leader => _local.Leader;

    public async Task<SchedulerResult> ProposeAsync(SchedulerCommand command, CancellationToken cancellationToken)
    {
        string? leader;
        try
        {
            return await _local.ProposeAsync(command, cancellationToken).ConfigureAwait(false);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.Unavailable && LeaderHint.From(e) is { } hint && !IsSelf(hint))
        {
            leader = hint;
        }

        for (var hop = 1; ; hop++)
        {
            SchedulerResult result;
            try
            {
                var client = new SchedulerForwarding.SchedulerForwardingClient(ChannelTo(leader));
                result = await client.ProposeAsync(
                    command,
                    deadline: DateTime.UtcNow.AddMilliseconds(_options.ForwardTimeoutMs),
                    cancellationToken: cancellationToken).ConfigureAwait(false);
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Unavailable && LeaderHint.From(e) is { } next && !IsSelf(next) && next != leader && hop < _options.HopsMax)
            {
                // Leadership moved while the command travelled; the refusing head names its successor.
                leader = next;
                continue;
            }
            catch (RpcException e) when (e.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded && !cancellationToken.IsCancellationRequested)
            {
                // The leader died or moved and nobody named a successor: the client retries (its Execute makes a
                // new submission; identical actions in flight share one operation, so a retry cannot run twice).
                throw new RpcException(new Status(StatusCode.Unavailable, $"The leader at {leader} did not take the request ({e.Status.Detail}); retry shortly."), LeaderHint.Trailers(null));
            }

            await WaitAppliedAsync(result.Version, cancellationToken).ConfigureAwait(false);
            return result;
        }
    }

    public Task ReadBarrierAsync(CancellationToken cancellationToken) => _local.ReadBarrierAsync(cancellationToken);

    public void Dispose()
    {
        foreach (var channel in _channels.Values)
        {
            channel.Dispose();
        }

        _channels.Clear();
    }

    private async Task WaitAppliedAsync(long version, CancellationToken cancellationToken)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(_options.ApplyWaitMs);
        while (true)
        {
            var changed = _local.Changes.Next;
            if (_local.Current.Version >= version)
            {
                return;
            }

            try
            {
                await changed.WaitAsync(limit.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new RpcException(new Status(StatusCode.Unavailable, $"The leader applied the request but this head has not caught up within {_options.ApplyWaitMs} ms; ask another head (the request took effect)."));
            }
        }
    }

    private bool IsSelf(string address) => string.Equals(address, _selfAddress, StringComparison.OrdinalIgnoreCase);

    private GrpcChannel ChannelTo(string address) =>
        _channels.GetOrAdd(address, a => GrpcChannels.Create(new Uri("http://" + a), _channelSettings));
}
