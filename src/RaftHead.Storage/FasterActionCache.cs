using Build.Bazel.Remote.Execution.V2;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace RaftHead.Storage;

/// <summary>
/// Action cache entries kept in the same segment store and FASTER index as the CAS, under their own
/// namespace per instance: one durability, recovery and eviction story for both. An entry is the
/// serialized ActionResult, checked against the SHA-256 in its record header on every read.
/// </summary>
public sealed class FasterActionCache : IActionCache
{
    private readonly FasterBlobStore _store;
    private readonly ILogger _logger;

    public FasterActionCache(FasterBlobStore store, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        _store = store;
        _logger = logger ?? NullLogger.Instance;
    }

    public async ValueTask<ActionResult?> GetAsync(string instanceName, Digest actionDigest, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(instanceName);
        FasterBlobStore.ThrowIfInvalid(actionDigest);
        byte[]? bytes = await _store.ReadActionResultAsync(instanceName, actionDigest, cancellationToken).ConfigureAwait(false);
        if (bytes is null)
        {
            return null;
        }

        try
        {
            return ActionResult.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            // The bytes are the ones written (the SHA-256 matched), so this is a writer bug, not rot: a miss.
            _logger.LogError(e, "Stored ActionResult for {ActionDigest} in {InstanceName} does not parse", actionDigest.Hash, instanceName);
            return null;
        }
    }

    public ValueTask PutAsync(string instanceName, Digest actionDigest, ActionResult result, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(instanceName);
        ArgumentNullException.ThrowIfNull(result);
        FasterBlobStore.ThrowIfInvalid(actionDigest);
        return _store.PutActionResultAsync(instanceName, actionDigest, result.ToByteArray(), cancellationToken);
    }
}
