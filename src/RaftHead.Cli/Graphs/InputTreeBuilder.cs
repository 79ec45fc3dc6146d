using System.Buffers;
using System.Security.Cryptography;
using Build.Bazel.Remote.Execution.V2;
using Google.Protobuf;
using RaftHead.Protocol;
using ReapiDirectory = Build.Bazel.Remote.Execution.V2.Directory;

namespace RaftHead.Cli.Graphs;

/// <summary>
/// Turns each node's local inputs into one REAPI Directory tree in canonical form (entries sorted by their UTF-8 names,
/// the executable bit kept, symbolic links as SymlinkNode, never followed) and collects every blob the trees need.
/// Files are hashed once however many nodes take them, and nodes with the same inputs share one tree.
/// </summary>
internal sealed class InputTreeBuilder
{
    private const int HashChunkBytes = 128 * 1024;

    private readonly string _baseDirectory;
    private readonly Dictionary<Digest, BlobSource> _blobs = new();
    private readonly Dictionary<string, FileNode> _files = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Digest> _trees = new(StringComparer.Ordinal);

    public InputTreeBuilder(string baseDirectory)
    {
        _baseDirectory = Path.GetFullPath(baseDirectory);
    }

    /// <summary>Every blob of every tree built so far: files and Directory messages.</summary>
    public IReadOnlyDictionary<Digest, BlobSource> Blobs => _blobs;

    /// <summary>The root Directory digest of <paramref name="localInputs"/> (relative to the base directory, "" for all of it).</summary>
    /// <param name="owner">Named in errors: the node whose inputs these are.</param>
    public async Task<Digest> BuildAsync(IReadOnlyList<string> localInputs, string owner, CancellationToken cancellationToken)
    {
        // Paths as the loader leaves them ("dir", not "dir/"); callers passing the written form get the same tree.
        var paths = localInputs.Select(p => string.Join('/', p.Split('/', StringSplitOptions.RemoveEmptyEntries))).ToList();
        var key = string.Join('\0', paths.Order(StringComparer.Ordinal).Distinct(StringComparer.Ordinal));
        if (_trees.TryGetValue(key, out var known))
        {
            return known;
        }

        var root = new Folder();
        foreach (var input in paths)
        {
            await AddAsync(root, input, owner, cancellationToken).ConfigureAwait(false);
        }

        var digest = Store(root);
        _trees[key] = digest;
        return digest;
    }

    private async Task AddAsync(Folder root, string relative, string owner, CancellationToken cancellationToken)
    {
        if (relative.Length == 0)
        {
            await AddContentsAsync(root, _baseDirectory, "", owner, cancellationToken).ConfigureAwait(false);
            return;
        }

        var segments = relative.Split('/');
        var folder = root;
        for (var i = 0; i < segments.Length - 1; i++)
        {
            folder = folder.Subfolder(segments[i], string.Join('/', segments[..(i + 1)]), owner);
        }

        var full = Path.Combine(_baseDirectory, relative);
        await AddEntryAsync(folder, segments[^1], full, relative, owner, cancellationToken).ConfigureAwait(false);
    }

    private async Task AddEntryAsync(Folder folder, string name, string full, string relative, string owner, CancellationToken cancellationToken)
    {
        FileSystemInfo info = System.IO.Directory.Exists(full) ? new DirectoryInfo(full) : new FileInfo(full);
        if (info.LinkTarget is { } target)
        {
            folder.AddLink(name, target, relative, owner);
        }
        else if (info is DirectoryInfo)
        {
            await AddContentsAsync(folder.Subfolder(name, relative, owner), full, relative, owner, cancellationToken).ConfigureAwait(false);
        }
        else if (info.Exists)
        {
            folder.AddFile(name, await HashFileAsync(full, cancellationToken).ConfigureAwait(false), relative, owner);
        }
        else
        {
            throw new GraphFileException($"node '{owner}': input {full} went away while it was being read");
        }
    }

    private async Task AddContentsAsync(Folder folder, string fullDirectory, string relative, string owner, CancellationToken cancellationToken)
    {
        foreach (var entry in new DirectoryInfo(fullDirectory).EnumerateFileSystemInfos())
        {
            var childRelative = relative.Length == 0 ? entry.Name : $"{relative}/{entry.Name}";
            await AddEntryAsync(folder, entry.Name, entry.FullName, childRelative, owner, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<FileNode> HashFileAsync(string full, CancellationToken cancellationToken)
    {
        if (_files.TryGetValue(full, out var known))
        {
            return known;
        }

        var buffer = ArrayPool<byte>.Shared.Rent(HashChunkBytes);
        try
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            long size = 0;
            await using (var stream = new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.Asynchronous | FileOptions.SequentialScan))
            {
                int read;
                while ((read = await stream.ReadAsync(buffer.AsMemory(0, HashChunkBytes), cancellationToken).ConfigureAwait(false)) > 0)
                {
                    hash.AppendData(buffer, 0, read);
                    size += read;
                }
            }

            var digest = Digests.FromHash(hash.GetHashAndReset(), size);
            var executable = (File.GetUnixFileMode(full) & UnixFileMode.UserExecute) != 0;
            var node = new FileNode { Digest = digest, IsExecutable = executable };
            _files[full] = node;
            _blobs.TryAdd(digest, BlobSource.File(full));
            return node;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Stores <paramref name="folder"/> and everything under it, children first; returns its digest.</summary>
    private Digest Store(Folder folder)
    {
        var directory = new ReapiDirectory();
        foreach (var (name, child) in folder.Folders)
        {
            directory.Directories.Add(new DirectoryNode { Name = name, Digest = Store(child) });
        }

        foreach (var (name, file) in folder.Files)
        {
            directory.Files.Add(new FileNode { Name = name, Digest = file.Digest, IsExecutable = file.IsExecutable });
        }

        foreach (var (name, target) in folder.Links)
        {
            directory.Symlinks.Add(new SymlinkNode { Name = name, Target = target });
        }

        var bytes = directory.ToByteArray();
        var digest = Digests.Compute(bytes);
        _blobs.TryAdd(digest, BlobSource.Message(bytes));
        return digest;
    }

    /// <summary>A directory of the tree being built; each name is one kind of entry.</summary>
    private sealed class Folder
    {
        public SortedDictionary<string, Folder> Folders { get; } = new(Utf8Order.Instance);

        public SortedDictionary<string, FileNode> Files { get; } = new(Utf8Order.Instance);

        public SortedDictionary<string, string> Links { get; } = new(Utf8Order.Instance);

        public Folder Subfolder(string name, string relative, string owner)
        {
            if (Folders.TryGetValue(name, out var existing))
            {
                return existing;
            }

            Clash(name, relative, owner, "a directory");
            var folder = new Folder();
            Folders[name] = folder;
            return folder;
        }

        public void AddFile(string name, FileNode file, string relative, string owner)
        {
            if (!Files.ContainsKey(name))
            {
                Clash(name, relative, owner, "a file");
                Files[name] = file;
            }
        }

        public void AddLink(string name, string target, string relative, string owner)
        {
            if (!Links.ContainsKey(name))
            {
                Clash(name, relative, owner, "a symbolic link");
                Links[name] = target;
            }
        }

        private void Clash(string name, string relative, string owner, string kind)
        {
            var existing = Folders.ContainsKey(name) ? "a directory" : Files.ContainsKey(name) ? "a file" : Links.ContainsKey(name) ? "a symbolic link" : null;
            if (existing is not null)
            {
                throw new GraphFileException($"node '{owner}', inputs: '{relative}' is {kind} here and {existing} in another of its inputs");
            }
        }
    }
}
