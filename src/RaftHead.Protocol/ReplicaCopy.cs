using Grpc.Core;

namespace RaftHead.Protocol;

/// <summary>
/// Marks a CAS call one head makes to another to copy or fetch a blob. A head serves such a call from its own store
/// only: it neither forwards the copy to a third head nor asks its peers for a blob it lacks, so replication never
/// echoes between heads and a fetch never loops.
/// </summary>
public static class ReplicaCopy
{
    /// <summary>The request header; its presence is the mark, its value is not read.</summary>
    public const string Header = "rh-replica-copy";

    /// <summary>Headers that mark a call as a replica copy.</summary>
    public static Metadata Headers() => new() { { Header, "1" } };

    /// <summary>Whether a request carries the mark.</summary>
    public static bool IsMarked(Metadata? requestHeaders) => requestHeaders?.Get(Header) is not null;
}
