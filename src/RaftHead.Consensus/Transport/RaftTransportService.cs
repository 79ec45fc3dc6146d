using System.Globalization;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using RaftHead.Consensus.Core;
using RaftHead.Rpc;
using RaftHead.Rpc.Server;

namespace RaftHead.Consensus.Transport;

/// <summary>
/// The receiving half of the peer transport: the <c>rafthead.v1.Raft</c> service, to be mounted by a host next
/// to its other services on one port. Each incoming stream is decoded message by message and handed to
/// <c>deliver</c> (normally <see cref="Driver.RaftDriver.Deliver"/>, which drops when the inbox is full).
/// A stream meant for another node, or carrying a malformed message, is failed with INVALID_ARGUMENT or
/// FAILED_PRECONDITION, so a misconfigured peer shows up in its logs rather than as silent loss.
/// </summary>
public static class RaftTransportService
{
    /// <param name="localId">This node's id: streams and messages addressed to another node are refused.</param>
    /// <param name="deliver">Takes each received message; false means it was dropped.</param>
    /// <param name="stopping">Ends every open stream (UNAVAILABLE), so a host's server can stop without waiting for peers to hang up.</param>
    /// <param name="options">Only the receive limit is used here.</param>
    /// <param name="logger">Stream open/close at debug level.</param>
    public static ServiceDefinition Create(long localId, Func<Message, bool> deliver, CancellationToken stopping, RaftTransportOptions? options = null, ILogger? logger = null)
    {
        if (localId <= 0) throw new ArgumentOutOfRangeException(nameof(localId));
        ArgumentNullException.ThrowIfNull(deliver);
        options ??= new RaftTransportOptions();
        options.Validate();
        var log = logger ?? NullLogger.Instance;
        return new ServiceBuilder(RaftMethods.ServiceName)
            .ClientStreaming(RaftMethods.Stream, (requests, context) => ReceiveAsync(localId, deliver, log, requests, context, stopping), options.MaxReceiveMessageBytes)
            .Build();
    }

    private static async Task<Empty> ReceiveAsync(long localId, Func<Message, bool> deliver, ILogger logger, IAsyncStreamReader<BytesValue> requests, ServerCallContext context, CancellationToken stopping)
    {
        var to = HeaderId(context, RaftMethods.ToHeader);
        if (to is { } claimed && claimed != localId)
        {
            throw new RpcException(StatusCode.FailedPrecondition, $"This is Raft node {localId}, not node {claimed}: check the peer addresses.");
        }
        var from = HeaderId(context, RaftMethods.FromHeader);
        logger.LogDebug("Raft node {NodeId}: stream from node {PeerId} ({Peer}) open", localId, from, context.Peer);
        long received = 0;
        long dropped = 0;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, stopping);
        while (await MoveNextAsync(requests, stop.Token, stopping, localId).ConfigureAwait(false))
        {
            Message message;
            try
            {
                message = RaftMessageCodec.Decode(requests.Current.Value.Span);
            }
            catch (FormatException e)
            {
                throw new RpcException(StatusCode.InvalidArgument, $"Malformed Raft message: {e.Message}");
            }
            if (message.To != localId || (from is { } sender && message.From != sender))
            {
                throw new RpcException(StatusCode.InvalidArgument, $"A message from {message.From} to {message.To} on node {localId}'s stream from {from}.");
            }
            received++;
            if (!deliver(message)) dropped++;
        }
        logger.LogDebug("Raft node {NodeId}: stream from node {PeerId} ended after {Received} messages ({Dropped} dropped)", localId, from, received, dropped);
        return new Empty();
    }

    private static async ValueTask<bool> MoveNextAsync(IAsyncStreamReader<BytesValue> requests, CancellationToken token, CancellationToken stopping, long localId)
    {
        try
        {
            return await requests.MoveNext(token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            throw new RpcException(StatusCode.Unavailable, $"Raft node {localId} is stopping.");
        }
    }

    private static long? HeaderId(ServerCallContext context, string header)
    {
        var value = context.RequestHeaders.GetText(header);
        if (value is null) return null;
        if (!long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var id) || id <= 0)
        {
            throw new RpcException(StatusCode.InvalidArgument, $"Header {header} must be a node id, got '{value}'.");
        }
        return id;
    }
}
