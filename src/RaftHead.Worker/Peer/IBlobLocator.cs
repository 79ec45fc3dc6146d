using Build.Bazel.Remote.Execution.V2;

namespace RaftHead.Worker.Peer;

/// <summary>Where a blob may be read besides the heads: peer blob endpoints (host:port) believed to hold it, most likely first.</summary>
public interface IBlobLocator
{
    Task<IReadOnlyList<string>> PeersHoldingAsync(Digest digest, CancellationToken cancellationToken);
}
