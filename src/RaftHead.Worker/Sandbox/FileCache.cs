using System.Collections.Concurrent;
using Build.Bazel.Remote.Execution.V2;
using RaftHead.Storage;

namespace RaftHead.Worker.Sandbox;

/// <summary>
/// Blobs as plain read-only files, one per (digest, executable), so inputs can be hard-linked into sandboxes
/// instead of copied. The executable bit lives on the inode, hence two entries for a blob used both ways.
/// A file appears under its final name only once complete (write to a temp name, then rename).
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

    /// <summary>The cached file for a blob, fetched from the store if needed; null when the store lacks it.</summary>
    /// <summary>Where the cached file for a blob is, or will be once fetched.</summary>
    public string PathFor(Digest digest, bool executable) =>
        Path.Combine(_root, digest.Hash[..2], digest.Hash + "-" + digest.SizeBytes.ToString(System.Globalization.CultureInfo.InvariantCulture) + (executable ? "-x" : ""));

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
            return path;
        }
        finally
        {
            File.Delete(temp);
        }
    }
}
