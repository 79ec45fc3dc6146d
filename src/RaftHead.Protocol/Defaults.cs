namespace RaftHead.Protocol;

/// <summary>
/// Defaults every part of RaftHead must agree on, defined once: the CLI, the head and the worker read them here.
/// </summary>
public static class Defaults
{
    /// <summary>The first head's gRPC port (REAPI, admin, worker protocol, Raft); <c>rh up</c> uses this and the next two.</summary>
    public const int HeadGrpcPort = 8980;

    /// <summary>Where <c>rh</c> looks for a head unless told otherwise (<c>--endpoint</c>, <c>RH_ENDPOINT</c>).</summary>
    public const string Endpoint = "127.0.0.1:8980";

    /// <summary>The CAS size bound; least recently used blobs are evicted beyond it.</summary>
    public const long CasMaxBytes = 10L * 1024 * 1024 * 1024;

    /// <summary>The unprivileged account actions run as when a worker runs as root (scripts/setup-worker.sh creates it).</summary>
    public const string RunAsUser = "rh-runner";

    /// <summary>Timeout given to an action that sets none.</summary>
    public const int ActionTimeoutDefaultMs = 30 * 60 * 1000;

    /// <summary>Longest Action.timeout accepted; a longer one is INVALID_ARGUMENT, as REAPI requires.</summary>
    public const int ActionTimeoutMaxMs = 2 * 60 * 60 * 1000;
}
