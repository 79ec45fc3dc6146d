using System.Collections.Concurrent;
using Build.Bazel.Remote.Execution.V2;
using Google.Protobuf;
using RaftHead.Protocol;

namespace RaftHead.Storage;

/// <summary>
/// Decorator (after Buildbarn's completeness_checking_blob_access): a lookup returns a result only if
/// every blob it names is in the CAS: output files, stdout/stderr, each output directory's Tree and
/// every file that Tree names. Otherwise it is a miss, counted as "incomplete", and the client re-runs
/// the action instead of failing on a download. The check also refreshes those blobs (FindMissing does),
/// so a result just served is not evicted from under the client.
/// </summary>
public sealed class CompletenessCheckingActionCache : IActionCache
{
    /// <summary>Default bound on a Tree blob this check will parse; a larger one makes the result incomplete.</summary>
    public const long DefaultTreeMaxBytes = 64L << 20;

    private readonly IActionCache _inner;
    private readonly IBlobStore _blobs;
    private readonly long _treeMaxBytes;
    private readonly ConcurrentDictionary<string, Counters> _counters = new(StringComparer.Ordinal);

    public CompletenessCheckingActionCache(IActionCache inner, IBlobStore blobs, long treeMaxBytes = DefaultTreeMaxBytes)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(blobs);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(treeMaxBytes);
        _inner = inner;
        _blobs = blobs;
        _treeMaxBytes = treeMaxBytes;
    }

    public async ValueTask<ActionResult?> GetAsync(string instanceName, Digest actionDigest, CancellationToken cancellationToken)
    {
        ActionResult? found = await _inner.GetAsync(instanceName, actionDigest, cancellationToken).ConfigureAwait(false);
        return await CheckAsync(instanceName, found, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Vouches for a result found without this cache (Execute reads the replicated state itself): null when it is absent
    /// or incomplete, counted as a lookup like <see cref="GetAsync"/>.
    /// </summary>
    public async ValueTask<ActionResult?> CheckAsync(string instanceName, ActionResult? result, CancellationToken cancellationToken)
    {
        Counters counters = _counters.GetOrAdd(instanceName, static _ => new Counters());
        if (result is null)
        {
            Interlocked.Increment(ref counters.Misses);
            return null;
        }

        if (!await IsCompleteAsync(instanceName, result, cancellationToken).ConfigureAwait(false))
        {
            Interlocked.Increment(ref counters.Incomplete);
            return null;
        }

        Interlocked.Increment(ref counters.Hits);
        return result;
    }

    public ValueTask PutAsync(string instanceName, Digest actionDigest, ActionResult result, CancellationToken cancellationToken) =>
        _inner.PutAsync(instanceName, actionDigest, result, cancellationToken);

    public ActionCacheStats GetStats()
    {
        long hits = 0;
        long misses = 0;
        long incomplete = 0;
        var instances = new Dictionary<string, InstanceActionCacheStats>(StringComparer.Ordinal);
        foreach ((string name, Counters c) in _counters)
        {
            var stats = new InstanceActionCacheStats(Volatile.Read(ref c.Hits), Volatile.Read(ref c.Misses), Volatile.Read(ref c.Incomplete));
            instances[name] = stats;
            hits += stats.Hits;
            misses += stats.Misses;
            incomplete += stats.Incomplete;
        }

        return new ActionCacheStats(hits, misses, incomplete, instances);
    }

    private async ValueTask<bool> IsCompleteAsync(string instanceName, ActionResult result, CancellationToken cancellationToken)
    {
        var wanted = new List<Digest>();
        foreach (OutputFile file in result.OutputFiles)
        {
            if (!AddIfValid(wanted, file.Digest))
            {
                return false;
            }
        }

        foreach (OutputDirectory directory in result.OutputDirectories)
        {
            if (!AddIfValid(wanted, directory.TreeDigest))
            {
                return false;
            }
        }

        if ((result.StdoutDigest is not null && !AddIfValid(wanted, result.StdoutDigest))
            || (result.StderrDigest is not null && !AddIfValid(wanted, result.StderrDigest)))
        {
            return false;
        }

        var missing = new List<Digest>();
        await _blobs.FindMissingAsync(instanceName, wanted, missing, cancellationToken).ConfigureAwait(false);
        if (missing.Count > 0)
        {
            return false;
        }

        // The Trees are present; every file they name must be too.
        wanted.Clear();
        foreach (OutputDirectory directory in result.OutputDirectories)
        {
            Tree? tree = await ReadTreeAsync(instanceName, directory.TreeDigest, cancellationToken).ConfigureAwait(false);
            if (tree is null)
            {
                return false;
            }

            if (!AddFiles(wanted, tree.Root))
            {
                return false;
            }

            foreach (Build.Bazel.Remote.Execution.V2.Directory child in tree.Children)
            {
                if (!AddFiles(wanted, child))
                {
                    return false;
                }
            }
        }

        if (wanted.Count == 0)
        {
            return true;
        }

        await _blobs.FindMissingAsync(instanceName, wanted, missing, cancellationToken).ConfigureAwait(false);
        return missing.Count == 0;
    }

    private async ValueTask<Tree?> ReadTreeAsync(string instanceName, Digest digest, CancellationToken cancellationToken)
    {
        if (digest.SizeBytes > _treeMaxBytes)
        {
            return null;
        }

        byte[]? bytes = await _blobs.ReadAllAsync(instanceName, digest, cancellationToken).ConfigureAwait(false);
        if (bytes is null)
        {
            return null;
        }

        try
        {
            return Tree.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException)
        {
            return null; // a Tree that does not parse cannot vouch for its files
        }
    }

    private static bool AddFiles(List<Digest> wanted, Build.Bazel.Remote.Execution.V2.Directory? directory)
    {
        if (directory is null)
        {
            return true;
        }

        foreach (FileNode file in directory.Files)
        {
            if (!AddIfValid(wanted, file.Digest))
            {
                return false;
            }
        }

        return true;
    }

    // A malformed digest in a stored result cannot be checked, so the result cannot be vouched for.
    private static bool AddIfValid(List<Digest> wanted, Digest? digest)
    {
        if (!Digests.IsValid(digest))
        {
            return false;
        }

        wanted.Add(digest);
        return true;
    }

    private sealed class Counters
    {
        public long Hits;
        public long Misses;
        public long Incomplete;
    }
}
