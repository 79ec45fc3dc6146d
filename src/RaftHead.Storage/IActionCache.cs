using Build.Bazel.Remote.Execution.V2;

namespace RaftHead.Storage;

/// <summary>Action digest to ActionResult, partitioned by instance name.</summary>
public interface IActionCache
{
    /// <summary>The stored result, or null. Decorators decide whether an incomplete result counts as a miss.</summary>
    ValueTask<ActionResult?> GetAsync(string instanceName, Digest actionDigest, CancellationToken cancellationToken);

    ValueTask PutAsync(string instanceName, Digest actionDigest, ActionResult result, CancellationToken cancellationToken);
}
