using System.Globalization;
using System.Text;
using Build.Bazel.Remote.Execution.V2;
using Google.Protobuf;
using Directory = Build.Bazel.Remote.Execution.V2.Directory;

namespace RaftHead.Storage.Merkle;

/// <summary>
/// Walks the Directory tree under a root digest through an <see cref="IBlobStore"/>, breadth first,
/// fetching up to <c>concurrencyMax</c> directories at a time. Each distinct directory is returned once,
/// in a deterministic order (BFS, children in the order their parents list them), and is validated with
/// <see cref="DirectoryValidator"/>. GetTree pages are slices of that order; the page token encodes the
/// root and the index of the next directory, so a page re-walks only the prefix it needs.
/// </summary>
public sealed class TreeWalker
{
    public const int DefaultPageSize = 1000;
    public const int PageSizeMax = 10_000;
    private const string TokenPrefix = "rh-tree-v1:";

    private readonly IBlobStore _store;
    private readonly int _concurrencyMax;
    private readonly long _directoryMaxBytes;
    private readonly int _directoriesMax;

    /// <param name="store">Where directory blobs are read from.</param>
    /// <param name="concurrencyMax">Directories fetched at once.</param>
    /// <param name="directoryMaxBytes">Largest Directory blob accepted.</param>
    /// <param name="directoriesMax">Largest number of distinct directories a walk may visit.</param>
    public TreeWalker(IBlobStore store, int concurrencyMax = 16, long directoryMaxBytes = 4L << 20, int directoriesMax = 1_000_000)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(concurrencyMax);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(directoryMaxBytes);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(directoriesMax);
        _store = store;
        _concurrencyMax = concurrencyMax;
        _directoryMaxBytes = directoryMaxBytes;
        _directoriesMax = directoriesMax;
    }

    /// <summary>Every directory of the tree, root first.</summary>
    /// <exception cref="MissingDirectoryException">A directory is not in the CAS.</exception>
    /// <exception cref="InvalidDirectoryException">A directory does not parse or is not valid.</exception>
    public async ValueTask<IReadOnlyList<Directory>> WalkAsync(string instanceName, Digest root, CancellationToken cancellationToken) =>
        await WalkCoreAsync(instanceName, root, int.MaxValue, cancellationToken).ConfigureAwait(false);

    /// <summary>One GetTree page. <paramref name="pageSize"/> 0 means the default; an empty token starts at the root.</summary>
    public async ValueTask<TreePage> GetPageAsync(string instanceName, Digest root, int pageSize, string? pageToken, CancellationToken cancellationToken)
    {
        FasterBlobStore.ThrowIfInvalid(root);
        ArgumentOutOfRangeException.ThrowIfNegative(pageSize);
        int size = pageSize == 0 ? DefaultPageSize : Math.Min(pageSize, PageSizeMax);
        int start = string.IsNullOrEmpty(pageToken) ? 0 : ParseToken(pageToken, root);
        List<Directory> walked = await WalkCoreAsync(instanceName, root, start + size + 1, cancellationToken).ConfigureAwait(false);
        if (start > walked.Count)
        {
            throw new ArgumentException("page token is beyond the end of the tree", nameof(pageToken));
        }

        int count = Math.Min(size, walked.Count - start);
        var page = walked.GetRange(start, count);
        string next = start + count < walked.Count ? MakeToken(root, start + count) : string.Empty;
        return new TreePage(page, next);
    }

    private async ValueTask<List<Directory>> WalkCoreAsync(string instanceName, Digest root, int stopAfter, CancellationToken cancellationToken)
    {
        FasterBlobStore.ThrowIfInvalid(root);
        var result = new List<Directory>();
        var seen = new HashSet<(string Hash, long Size)> { (root.Hash, root.SizeBytes) };
        var level = new List<Digest> { root };
        var next = new List<Digest>();
        var fetches = new Task<Directory>[_concurrencyMax];
        while (level.Count > 0)
        {
            for (int chunkStart = 0; chunkStart < level.Count; chunkStart += _concurrencyMax)
            {
                int chunk = Math.Min(_concurrencyMax, level.Count - chunkStart);
                for (int i = 0; i < chunk; i++)
                {
                    fetches[i] = FetchAsync(instanceName, level[chunkStart + i], cancellationToken);
                }

                await Task.WhenAll(fetches.AsSpan(0, chunk)).ConfigureAwait(false);
                for (int i = 0; i < chunk; i++)
                {
                    Directory directory = await fetches[i].ConfigureAwait(false);
                    result.Add(directory);
                    foreach (DirectoryNode child in directory.Directories)
                    {
                        if (seen.Add((child.Digest.Hash, child.Digest.SizeBytes)))
                        {
                            if (seen.Count > _directoriesMax)
                            {
                                throw new InvalidOperationException(
                                    string.Create(CultureInfo.InvariantCulture, $"tree under {root.Hash}/{root.SizeBytes} has more than {_directoriesMax} directories"));
                            }

                            next.Add(child.Digest);
                        }
                    }
                }

                if (result.Count >= stopAfter)
                {
                    return result;
                }
            }

            (level, next) = (next, level);
            next.Clear();
        }

        return result;
    }

    private async Task<Directory> FetchAsync(string instanceName, Digest digest, CancellationToken cancellationToken)
    {
        if (digest.SizeBytes > _directoryMaxBytes)
        {
            throw new InvalidDirectoryException(digest, string.Create(CultureInfo.InvariantCulture, $"larger than the {_directoryMaxBytes}-byte limit"));
        }

        byte[] bytes = await _store.ReadAllAsync(instanceName, digest, cancellationToken).ConfigureAwait(false)
            ?? throw new MissingDirectoryException(digest);

        Directory directory;
        try
        {
            directory = Directory.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new InvalidDirectoryException(digest, "does not parse as a Directory: " + e.Message);
        }

        string? error = DirectoryValidator.Validate(directory);
        return error is null ? directory : throw new InvalidDirectoryException(digest, error);
    }

    private static string MakeToken(Digest root, int index) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{TokenPrefix}{root.Hash}/{root.SizeBytes}/{index}")));

    private static int ParseToken(string token, Digest root)
    {
        string text;
        try
        {
            text = Encoding.UTF8.GetString(Convert.FromBase64String(token));
        }
        catch (FormatException)
        {
            throw new ArgumentException("page token is not one this server issued", nameof(token));
        }

        string expected = string.Create(CultureInfo.InvariantCulture, $"{TokenPrefix}{root.Hash}/{root.SizeBytes}/");
        if (!text.StartsWith(expected, StringComparison.Ordinal)
            || !int.TryParse(text.AsSpan(expected.Length), NumberStyles.None, CultureInfo.InvariantCulture, out int index))
        {
            throw new ArgumentException("page token is not one this server issued for this root", nameof(token));
        }

        return index;
    }
}
