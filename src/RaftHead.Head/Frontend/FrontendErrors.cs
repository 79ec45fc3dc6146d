using System.Globalization;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using RaftHead.Consensus.Driver;
using RaftHead.Protocol;
using RaftHead.Protocol.V1;

namespace RaftHead.Head.Frontend;

/// <summary>
/// Where consensus failures and refused commands become the gRPC status a client sees, once for every service of the
/// frontend: a client learns whom to retry against (UNAVAILABLE with the leader's address) and when (RetryInfo).
/// </summary>
public static class FrontendErrors
{
    /// <summary>The status for a failure of a proposal or a read barrier; null when it is not one of ours.</summary>
    public static RpcException? FromConsensus(Exception error, TimeSpan retryDelay) => error switch
    {
        NotLeaderException notLeader => NotLeader(notLeader.LeaderId, notLeader.LeaderAddress, notLeader.MayHaveCommitted),
        RaftOverloadedException overloaded => Exhausted(overloaded.Message, retryDelay),
        ObjectDisposedException => new RpcException(new Status(StatusCode.Unavailable, "This head is shutting down; retry on another head.")),
        _ => null,
    };

    public static RpcException NotLeader(long leaderId, string? leaderAddress, bool mayHaveCommitted = false)
    {
        var hint = leaderId == 0
            ? "no leader is known yet; retry shortly"
            : string.Create(CultureInfo.InvariantCulture, $"the leader is node {leaderId}{(leaderAddress is null ? "" : " at " + leaderAddress)}; retry there");
        var outcome = mayHaveCommitted ? " (the request may already have taken effect: retry with the same request)" : "";
        return new RpcException(new Status(StatusCode.Unavailable, $"This head is not the leader: {hint}{outcome}."), leaderId == 0 ? LeaderHint.NoLeaderTrailers() : LeaderHint.Trailers(leaderAddress));
    }

    /// <summary>RESOURCE_EXHAUSTED with RetryInfo, so clients back off instead of piling on.</summary>
    public static RpcException Exhausted(string message, TimeSpan retryDelay) =>
        StatusDetails.Exception(StatusCode.ResourceExhausted, message, new Google.Rpc.RetryInfo { RetryDelay = Duration.FromTimeSpan(retryDelay) });

    /// <summary>The status of a refused command, for calls whose refusal the client must see (submit, cancel, register).</summary>
    public static RpcException FromResult(SchedulerResult result, TimeSpan retryDelay) => result.Code switch
    {
        SchedulerResultCode.InvalidArgument => new RpcException(new Status(StatusCode.InvalidArgument, result.Message)),
        SchedulerResultCode.NotFound => new RpcException(new Status(StatusCode.NotFound, result.Message)),
        SchedulerResultCode.QueueFull => Exhausted(
            string.Create(CultureInfo.InvariantCulture, $"The execution queue is full ({result.Message}); retry after {retryDelay.TotalMilliseconds:0} ms."),
            retryDelay),
        SchedulerResultCode.Stale => new RpcException(new Status(StatusCode.Aborted, result.Message)),
        SchedulerResultCode.AlreadyFinished => new RpcException(new Status(StatusCode.FailedPrecondition, result.Message)),
        SchedulerResultCode.UnsupportedVersion => new RpcException(new Status(StatusCode.FailedPrecondition, result.Message)),
        _ => new RpcException(new Status(StatusCode.Internal, "Unexpected scheduler result " + result.Code + ": " + result.Message)),
    };

    public static RpcException OperationNotFound(string name) =>
        new(new Status(StatusCode.NotFound, $"Operation '{name}' is not known (it finished long ago and was pruned, or never existed); call Execute again."));
}
