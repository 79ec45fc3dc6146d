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

    /// <summary>Trailers naming <paramref name="leaderAddress"/>; empty when no leader is known.</summary>
    public static Metadata Trailers(string? leaderAddress)
    {
        var trailers = new Metadata();
        if (!string.IsNullOrEmpty(leaderAddress)) trailers.Add(Trailer, leaderAddress);
        return trailers;
    }

    /// <summary>The leader address a failed call was pointed to, or null.</summary>
    public static string? From(RpcException exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        var value = exception.Trailers.GetValue(Trailer);
        return string.IsNullOrEmpty(value) ? null : value;
    }
}
