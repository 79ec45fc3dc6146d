using System.Collections.Concurrent;
using Build.Bazel.Remote.Execution.V2;
using RaftHead.Storage;
using RaftHead.Storage.Merkle;
using RaftHead.Worker.Sandbox;
using ReapiDirectory = Build.Bazel.Remote.Execution.V2.Directory;

namespace RaftHead.Bench.Execution;

/// <summary>
/// <see cref="InputMaterializer.MaterializeAsync"/> step for step (breadth-first walk of Directory messages read from
/// the store, directories created and given to the owner, then every file fetched through the same
/// <see cref="FileCache"/> with 8 in parallel), except that each file is either hard-linked or copied as chosen:
/// <c>File.Copy</c> then the source's mode, which is the materializer's own fallback. Copying through the same walk
/// isolates link against copy; linking through it checks the replica costs what the real one does.
/// </summary>
internal sealed class ReplicaMaterializer
{
    private const int FetchParallelism = 8; // InputMaterializer.FetchParallelism

    private readonly IBlobStore _store;
    private readonly FileCache _cache;

    public ReplicaMaterializer(IBlobStore store, FileCache cache)
    {
        _store = store;
        _cache = cache;
    }

    /// <returns>Files placed.</returns>
    public async Task<int> MaterializeAsync(string instanceName, Digest rootDigest, string root, UnixUser? owner, bool link, CancellationToken cancellationToken)
    {
        var files = new List<(string Path, FileNode Node)>();
        var queue = new Queue<(string Relative, Digest Digest)>();
        queue.Enqueue(("", rootDigest));
        System.IO.Directory.CreateDirectory(root);
        Own(root, owner);
        while (queue.Count > 0)
        {
            var (relative, digest) = queue.Dequeue();
            var buffer = await _store.ReadAllAsync(instanceName, digest, cancellationToken).ConfigureAwait(false)
                ?? throw new InvalidOperationException($"directory {digest.Hash} is missing");
            var directory = ReapiDirectory.Parser.ParseFrom(buffer);
            if (DirectoryValidator.Validate(directory) is { } problem)
            {
                throw new InvalidOperationException(problem);
            }

            var here = relative.Length == 0 ? root : Path.Combine(root, relative);
            foreach (var child in directory.Directories)
            {
                var childRelative = relative.Length == 0 ? child.Name : relative + "/" + child.Name;
                var path = Path.Combine(root, childRelative);
                System.IO.Directory.CreateDirectory(path);
                Own(path, owner);
                queue.Enqueue((childRelative, child.Digest));
            }

            foreach (var file in directory.Files)
            {
                files.Add((Path.Combine(here, file.Name), file));
            }
        }

        var placed = 0;
        var failures = new ConcurrentBag<string>();
        await Parallel.ForEachAsync(
            files,
            new ParallelOptions { MaxDegreeOfParallelism = FetchParallelism, CancellationToken = cancellationToken },
            async (item, token) =>
            {
                var source = await _cache.GetAsync(_store, instanceName, item.Node.Digest, item.Node.IsExecutable, token).ConfigureAwait(false);
                if (source is null)
                {
                    failures.Add(item.Path);
                    return;
                }

                if (link)
                {
                    if (Posix.Link(source, item.Path) != 0)
                    {
                        failures.Add(item.Path);
                        return;
                    }
                }
                else
                {
                    File.Copy(source, item.Path);
                    File.SetUnixFileMode(item.Path, File.GetUnixFileMode(source));
                }

                Interlocked.Increment(ref placed);
            }).ConfigureAwait(false);

        if (!failures.IsEmpty)
        {
            throw new InvalidOperationException($"Benchmark self-check failed: {failures.Count} file(s) not placed, e.g. {failures.First()}");
        }

        return placed;
    }

    private static void Own(string path, UnixUser? owner)
    {
        if (owner is not null && Posix.LChown(path, owner.Uid, owner.Gid) != 0)
        {
            throw new IOException($"cannot give '{path}' to user {owner.Name}");
        }
    }
}
