using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Build.Bazel.Remote.Execution.V2;
using Google.Protobuf;
using Directory = Build.Bazel.Remote.Execution.V2.Directory;

namespace RaftHead.Storage.Merkle;

/// <summary>
/// The walk of a REAPI tree (Directory messages named by digest under a root) through an <see cref="IBlobStore"/>:
/// breadth first, children in the order their parents list them, up to <see cref="MerkleWalkOptions.ConcurrencyMax"/>
/// reads at once. Every directory is held to the size bound and to <see cref="DirectoryValidator"/> before the visitor
/// sees it, and the tree to the bounds on directories and depth. Reads overlap, but what the visitor sees and which
/// error ends the walk are as if directories were read one at a time in walk order, so neither depends on the
/// concurrency.
/// </summary>
public sealed class MerkleWalker
{
    private readonly IBlobStore _store;
    private readonly MerkleWalkOptions _options;

    public MerkleWalker(IBlobStore store, MerkleWalkOptions options)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _store = store;
        _options = options;
    }

    public MerkleWalkOptions Options => _options;

    /// <summary>The path of a child directory, file or symlink named <paramref name="name"/> under <paramref name="parent"/>
    /// ("" is the root).</summary>
    public static string ChildPath(string parent, string name) => parent.Length == 0 ? name : string.Concat(parent, "/", name);

    /// <summary>Walks the tree under <paramref name="root"/>, reporting to <paramref name="visitor"/>.</summary>
    /// <exception cref="ArgumentException">The root digest is malformed.</exception>
    /// <exception cref="MissingDirectoryException">A directory is not in the store (<see cref="MissingDirectoryMode.Stop"/>).</exception>
    /// <exception cref="InvalidDirectoryException">A directory is too large, does not parse or is not valid.</exception>
    /// <exception cref="MerkleLimitException">The tree has too many directories or is too deep.</exception>
    public async ValueTask WalkAsync(string instanceName, Digest root, IMerkleVisitor visitor, CancellationToken cancellationToken)
    {
        FasterBlobStore.ThrowIfInvalid(root);
        ArgumentNullException.ThrowIfNull(visitor);
        bool eachPath = _options.Visit == MerkleVisitMode.EachPath;
        HashSet<(string Hash, long Size)>? seen = eachPath ? null : [(root.Hash, root.SizeBytes)];
        long queued = 1;
        var level = new List<Digest> { root };
        var next = new List<Digest>();
        List<string>? paths = eachPath ? [string.Empty] : null;
        List<string>? nextPaths = eachPath ? [] : null;
        List<Digest>? absent = _options.ProbeLevels ? [] : null;
        var reads = new Task<Read>[_options.ConcurrencyMax];
        for (int depth = 0; level.Count > 0; depth++)
        {
            Debug.Assert(paths is null || paths.Count == level.Count, "one path per queued directory");
            visitor.OnLevel(CollectionsMarshal.AsSpan(level));
            if (absent is not null)
            {
                await ProbeAsync(instanceName, level, paths, absent, visitor, cancellationToken).ConfigureAwait(false);
            }

            for (int start = 0; start < level.Count; start += reads.Length)
            {
                int chunk = Math.Min(reads.Length, level.Count - start);
                for (int i = 0; i < chunk; i++)
                {
                    reads[i] = ReadAsync(instanceName, level[start + i], paths?[start + i], cancellationToken);
                }

                // Every read of the chunk ends before any is looked at: none is left running when the walk stops.
                await Task.WhenAll(new ReadOnlySpan<Task>(reads, 0, chunk)).ConfigureAwait(false);
                for (int i = 0; i < chunk; i++)
                {
                    Read read = await reads[i].ConfigureAwait(false);
                    Digest digest = level[start + i];
                    string? path = paths?[start + i];
                    if (read.Error is not null)
                    {
                        throw read.Error;
                    }

                    if (read.Directory is null)
                    {
                        Missing(visitor, digest, path);
                        continue;
                    }

                    if (!visitor.OnDirectory(digest, read.Directory, path))
                    {
                        return;
                    }

                    foreach (DirectoryNode child in read.Directory.Directories)
                    {
                        if (seen is not null && !seen.Add((child.Digest.Hash, child.Digest.SizeBytes)))
                        {
                            continue;
                        }

                        if (++queued > _options.DirectoriesMax)
                        {
                            throw new MerkleLimitException(root, MerkleLimit.Directories, _options.DirectoriesMax,
                                string.Create(CultureInfo.InvariantCulture, $"tree under {root.Hash}/{root.SizeBytes} has more than {_options.DirectoriesMax} directories"));
                        }

                        if (depth >= _options.DepthMax)
                        {
                            throw new MerkleLimitException(root, MerkleLimit.Depth, _options.DepthMax,
                                string.Create(CultureInfo.InvariantCulture, $"tree under {root.Hash}/{root.SizeBytes} is more than {_options.DepthMax} levels deep"));
                        }

                        next.Add(child.Digest);
                        nextPaths?.Add(ChildPath(path!, child.Name));
                    }
                }
            }

            (level, next) = (next, level);
            next.Clear();
            (paths, nextPaths) = (nextPaths, paths);
            nextPaths?.Clear();
        }
    }

    /// <summary>Reports the level's directories the store lacks and leaves only the others in it, in order.</summary>
    private async ValueTask ProbeAsync(string instanceName, List<Digest> level, List<string>? paths, List<Digest> absent, IMerkleVisitor visitor, CancellationToken cancellationToken)
    {
        absent.Clear();
        await _store.FindMissingAsync(instanceName, level, absent, cancellationToken).ConfigureAwait(false);
        if (absent.Count == 0)
        {
            return;
        }

        var absentSet = new HashSet<(string Hash, long Size)>(absent.Count);
        foreach (Digest digest in absent)
        {
            absentSet.Add((digest.Hash, digest.SizeBytes));
        }

        int kept = 0;
        for (int i = 0; i < level.Count; i++)
        {
            if (absentSet.Contains((level[i].Hash, level[i].SizeBytes)))
            {
                Missing(visitor, level[i], paths?[i]);
                continue;
            }

            level[kept] = level[i];
            if (paths is not null)
            {
                paths[kept] = paths[i];
            }

            kept++;
        }

        level.RemoveRange(kept, level.Count - kept);
        paths?.RemoveRange(kept, paths.Count - kept);
    }

    private void Missing(IMerkleVisitor visitor, Digest digest, string? path)
    {
        if (_options.Missing == MissingDirectoryMode.Stop)
        {
            throw new MissingDirectoryException(digest);
        }

        visitor.OnMissing(digest, path);
    }

    /// <summary>One directory read: the store lacking it is neither a Directory nor an error.</summary>
    private async Task<Read> ReadAsync(string instanceName, Digest digest, string? path, CancellationToken cancellationToken)
    {
        if (digest.SizeBytes > _options.DirectoryMaxBytes)
        {
            return new Read(null, new InvalidDirectoryException(
                digest, InvalidDirectoryKind.TooLarge, string.Create(CultureInfo.InvariantCulture, $"larger than the {_options.DirectoryMaxBytes}-byte limit"), path));
        }

        byte[]? bytes = await _store.ReadAllAsync(instanceName, digest, cancellationToken).ConfigureAwait(false);
        if (bytes is null)
        {
            return default;
        }

        Directory directory;
        try
        {
            directory = Directory.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            return new Read(null, new InvalidDirectoryException(digest, InvalidDirectoryKind.Unparsable, "does not parse as a Directory: " + e.Message, path, e));
        }

        string? problem = DirectoryValidator.Validate(directory);
        return problem is null ? new Read(directory, null) : new Read(null, new InvalidDirectoryException(digest, InvalidDirectoryKind.BreaksRules, problem, path));
    }

    private readonly record struct Read(Directory? Directory, InvalidDirectoryException? Error);
}
