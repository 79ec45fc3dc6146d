using System.Collections.Concurrent;
using Build.Bazel.Remote.Execution.V2;
using RaftHead.Protocol;
using RaftHead.Storage;

namespace RaftHead.Worker.Sandbox;

/// <summary>
/// Blobs as plain read-only files, one per (digest, executable), so inputs can be hard-linked into sandboxes
/// instead of copied. The executable bit lives on the inode, hence two entries for a blob used both ways.
/// A file appears under its final name only once complete (write to a temp name, then rename), and only verified bytes
/// get there: the store verifies what it serves, and <see cref="Adopt"/> is given verified files only. These files
/// are the worker's own CAS: peers read them, and the worker reports them to the heads (<see cref="Stored"/>).
/// Nothing is evicted yet.
/// </summary>
public sealed class FileCache
{
    private readonly string _root;
    private readonly string _tmp;
    private readonly ConcurrentDictionary<string, Lazy<Task<string>>> _inFlight = new(StringComparer.Ordinal);

    public FileCache(string root)
    {
        _root = root;
        _tmp = Path.Combine(root, "tmp");
        System.IO.Directory.CreateDirectory(_tmp);
    }

    /// <summary>Raised once a blob's file is complete under its final name (fetched or adopted), on the thread that stored it.</summary>
    public event Action<Digest>? Stored;

    /// <summary>Where the cached file for a blob is, or will be once fetched.</summary>
    public string PathFor(Digest digest, bool executable) =>
        Path.Combine(_root, digest.Hash[..2], digest.Hash + "-" + digest.SizeBytes.ToString(System.Globalization.CultureInfo.InvariantCulture) + (executable ? "-x" : ""));

    /// <summary>A fresh name in the cache's own temp directory (same file system, so a rename adopts it).</summary>
    public string NewTempPath() => Path.Combine(_tmp, Guid.NewGuid().ToString("N"));

    /// <summary>The blob's file opened for reading (either mode), or null when the cache does not hold it.</summary>
    public FileStream? TryOpenRead(Digest digest)
    {
        foreach (var executable in (ReadOnlySpan<bool>)[false, true])
        {
            try
            {
                return new FileStream(PathFor(digest, executable), FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.Asynchronous | FileOptions.SequentialScan);
            }
            catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
            {
            }
        }

        return null;
    }

    public bool Contains(Digest digest) => File.Exists(PathFor(digest, false)) || File.Exists(PathFor(digest, true));

    /// <summary>Every blob held, each once, read from the directory (for a full report after registering).</summary>
    public IEnumerable<Digest> EnumerateStored()
    {
        foreach (var directory in System.IO.Directory.EnumerateDirectories(_root))
        {
            if (Path.GetFileName(directory).Length != 2)
            {
                continue;
            }

            foreach (var file in System.IO.Directory.EnumerateFiles(directory))
            {
                var name = Path.GetFileName(file.AsSpan());
                var dash = name.IndexOf('-');
                if (dash <= 0 || !Digests.IsValidHash(name[..dash]))
                {
                    continue;
                }

                var rest = name[(dash + 1)..];
                if (rest.EndsWith("-x", StringComparison.Ordinal))
                {
                    // Reported with its non-executable twin if there is one.
                    if (File.Exists(file[..^2]))
                    {
                        continue;
                    }

                    rest = rest[..^2];
                }

                if (long.TryParse(rest, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var size))
                {
                    yield return new Digest { Hash = name[..dash].ToString(), SizeBytes = size };
                }
            }
        }
    }

    /// <summary>
    /// Moves a complete temp file (from <see cref="NewTempPath"/>) whose bytes the caller has verified against
    /// <paramref name="digest"/> into the cache as the blob's non-executable file.
    /// </summary>
    public void Adopt(string tempPath, Digest digest)
    {
        var path = PathFor(digest, executable: false);
        if (File.Exists(path))
        {
            File.Delete(tempPath);
            return;
        }

        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.SetUnixFileMode(tempPath, UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        File.Move(tempPath, path, overwrite: true);
        Stored?.Invoke(digest);
    }

    public async Task<string?> GetAsync(IBlobStore store, string instanceName, Digest digest, bool executable, CancellationToken cancellationToken)
    {
        var path = PathFor(digest, executable);
        if (File.Exists(path))
        {
            return path;
        }

        var fetch = _inFlight.GetOrAdd(path, p => new Lazy<Task<string>>(() => FetchAsync(store, instanceName, digest, executable, p, cancellationToken)));
        try
        {
            return await fetch.Value.ConfigureAwait(false);
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        finally
        {
            _inFlight.TryRemove(new KeyValuePair<string, Lazy<Task<string>>>(path, fetch));
        }
    }

    private async Task<string> FetchAsync(IBlobStore store, string instanceName, Digest digest, bool executable, string path, CancellationToken cancellationToken)
    {
        await using var source = await store.OpenReadAsync(instanceName, digest, 0, 0, cancellationToken).ConfigureAwait(false)
            ?? throw new FileNotFoundException($"blob {digest.Hash}/{digest.SizeBytes} is not in the CAS");
        if (File.Exists(path))
        {
            // The store kept the blob here itself (a verified peer fetch is adopted whole rather than copied).
            return path;
        }

        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temp = Path.Combine(_tmp, Guid.NewGuid().ToString("N"));
        try
        {
            await using (var target = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
            {
                await source.CopyToAsync(target, cancellationToken).ConfigureAwait(false);
            }

            File.SetUnixFileMode(temp, executable
                ? UnixFileMode.UserRead | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute
                : UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            File.Move(temp, path, overwrite: true);
            Stored?.Invoke(digest);
            return path;
        }
        finally
        {
            File.Delete(temp);
        }
    }
}
