using System.Globalization;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using RaftHead.Consensus.Core;
using RaftHead.Protocol.V1;

namespace RaftHead.Consensus.Transport;

/// <summary>
/// The receiving half of the peer transport: the <c>rafthead.v1.Raft</c> service, mapped by a host next to its
/// other services on one port. Each incoming stream is decoded frame by frame (one message or a batch, see
/// <see cref="RaftMessageCodec"/>) and each message handed, in order, to
/// <c>deliver</c> (normally <see cref="Driver.RaftDriver.Deliver"/>, which drops when the peer queue is full).
/// A stream meant for another node, or carrying a malformed message, is failed with INVALID_ARGUMENT or
/// FAILED_PRECONDITION, so a misconfigured peer shows up in its logs rather than as silent loss.
/// </summary>
/// <remarks>
/// grpc-dotnet sets receive limits per service, in the host: register one instance as a singleton and apply
/// <see cref="RaftTransportOptions.MaxReceiveMessageBytes"/> with
/// <c>services.AddGrpc().AddServiceOptions&lt;RaftTransportService&gt;(o =&gt; o.MaxReceiveMessageSize = ...)</c>.
/// Without it the server's default (4 MiB) applies, below a full append batch or snapshot chunk.
/// </remarks>
public sealed class RaftTransportService : Raft.RaftBase
{
    private readonly long _localId;
    private readonly Func<Message, bool> _deliver;
    private readonly CancellationToken _stopping;
    private readonly ILogger _logger;

    /// <param name="localId">This node's id: streams and messages addressed to another node are refused.</param>
    /// <param name="deliver">Takes each received message; false means it was dropped.</param>
    /// <param name="stopping">Ends every open stream (UNAVAILABLE), so a host's server can stop without waiting for peers to hang up.</param>
    /// <param name="options">Validated here; its receive limit is for the host to apply (see the remarks).</param>
    /// <param name="logger">Stream open/close at debug level.</param>
    public RaftTransportService(long localId, Func<Message, bool> deliver, CancellationToken stopping, RaftTransportOptions? options = null, ILogger? logger = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(localId);
        ArgumentNullException.ThrowIfNull(deliver);
        (options ?? new RaftTransportOptions()).Validate();
        _localId = localId;
        _deliver = deliver;
        _stopping = stopping;
        _logger = logger ?? NullLogger.Instance;
    }

    public override async Task<Empty> Stream(IAsyncStreamReader<BytesValue> requestStream, ServerCallContext context)
    {
        var to = HeaderId(context, RaftHeaders.To);
        if (to is { } claimed && claimed != _localId)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, $"This is Raft node {_localId}, not node {claimed}: check the peer addresses."));
        }
        var from = HeaderId(context, RaftHeaders.From);
        _logger.LogDebug("Raft node {NodeId}: stream from node {PeerId} ({Peer}) open", _localId, from, context.Peer);
        // Answered at once, so the sender knows its stream is up before it has anything to send.
        await context.WriteResponseHeadersAsync(new Metadata()).ConfigureAwait(false);
        long received = 0;
        long dropped = 0;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, _stopping);
        var messages = new List<Message>();
        while (await MoveNextAsync(requestStream, stop.Token).ConfigureAwait(false))
        {
            messages.Clear();
            try
            {
                RaftMessageCodec.DecodeFrame(requestStream.Current.Value.Span, messages);
            }
            catch (FormatException e)
            {
                throw new RpcException(new Status(StatusCode.InvalidArgument, $"Malformed Raft message: {e.Message}"));
            }
            // The whole frame is checked before any of it is delivered: a misaddressed batch is refused whole.
            foreach (var message in messages)
            {
                if (message.To != _localId || (from is { } sender && message.From != sender))
                {
                    throw new RpcException(new Status(StatusCode.InvalidArgument, $"A message from {message.From} to {message.To} on node {_localId}'s stream from {from}."));
                }
            }
            foreach (var message in messages)
            {
                received++;
                if (!_deliver(message)) dropped++;
            }
        }
        _logger.LogDebug("Raft node {NodeId}: stream from node {PeerId} ended after {Received} messages ({Dropped} dropped)", _localId, from, received, dropped);
        return new Empty();
    }

    private async ValueTask<bool> MoveNextAsync(IAsyncStreamReader<BytesValue> requests, CancellationToken token)
    {
        try
        {
            return await requests.MoveNext(token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, $"Raft node {_localId} is stopping."));
        }
    }

    private static long? HeaderId(ServerCallContext context, string header)
    {
        var value = context.RequestHeaders.GetValue(header);
        if (value is null) return null;
        if (!long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var id) || id <= 0)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"Header {header} must be a node id, got '{value}'."));
        }
        return id;
    }
}
