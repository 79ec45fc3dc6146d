using Grpc.Core;

namespace RaftHead.Protocol;

/// <summary>
/// How a head that cannot take a write says where the leader is: an UNAVAILABLE status whose trailers carry the
/// leader's gRPC address (host:port) under <see cref="Trailer"/>, so a client retries there instead of guessing.
/// </summary>
public static class LeaderHint
{
    /// <summary>The trailer that names the leader's address.</summary>
    public const string Trailer = "rh-leader";

    /// <summary>The trailer that says no leader is known at all (an election is under way): the same head can take the call shortly.</summary>
    public const string NoLeaderTrailer = "rh-no-leader";

    /// <summary>Trailers naming <paramref name="leaderAddress"/>; empty when no leader is known.</summary>
    public static Metadata Trailers(string? leaderAddress)
    {
        var trailers = new Metadata();
        if (!string.IsNullOrEmpty(leaderAddress)) trailers.Add(Trailer, leaderAddress);
        return trailers;
    }

    /// <summary>Trailers saying that no leader is known.</summary>
    public static Metadata NoLeaderTrailers() => new() { { NoLeaderTrailer, "1" } };

    /// <summary>Whether a failed call was refused because no leader is known yet.</summary>
    public static bool IsNoLeader(RpcException exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        return exception.StatusCode == StatusCode.Unavailable && !string.IsNullOrEmpty(exception.Trailers.GetValue(NoLeaderTrailer));
    }

    /// <summary>The leader address a failed call was pointed to, or null.</summary>
    public static string? From(RpcException exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        var value = exception.Trailers.GetValue(Trailer);
        return string.IsNullOrEmpty(value) ? null : value;
    }
}
