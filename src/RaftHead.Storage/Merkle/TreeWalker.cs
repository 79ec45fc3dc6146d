using System.Globalization;
using System.Text;
using Build.Bazel.Remote.Execution.V2;
using Directory = Build.Bazel.Remote.Execution.V2.Directory;

namespace RaftHead.Storage.Merkle;

/// <summary>
/// The directories of the tree under a root digest, each distinct one once, in <see cref="MerkleWalker"/> order
/// (breadth first, children in the order their parents list them). As REAPI's GetTree asks, a part of the tree the CAS
/// lacks is left out and the rest returned.
/// GetTree pages are slices of that order; the page token encodes the root and the index of the next
/// directory, so a page re-walks only the prefix it needs.
/// </summary>
public sealed class TreeWalker
{
    public const int DefaultPageSize = 1000;
    public const int PageSizeMax = 10_000;
    private const string TokenPrefix = "rh-tree-v1:";

    private readonly MerkleWalker _walker;

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
        _walker = new MerkleWalker(store, new MerkleWalkOptions
        {
            ConcurrencyMax = concurrencyMax,
            DirectoryMaxBytes = directoryMaxBytes,
            DirectoriesMax = directoriesMax,
            Visit = MerkleVisitMode.EachDigestOnce,
            Missing = MissingDirectoryMode.Collect,
        });
    }

    /// <summary>Every directory of the tree the CAS holds, root first.</summary>
    /// <exception cref="InvalidDirectoryException">A directory does not parse or is not valid.</exception>
    /// <exception cref="MerkleLimitException">The tree is larger or deeper than the walk may go.</exception>
    public async ValueTask<IReadOnlyList<Directory>> WalkAsync(string instanceName, Digest root, CancellationToken cancellationToken) =>
        await WalkCoreAsync(instanceName, root, int.MaxValue, cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// Every page of a GetTree answer from <paramref name="pageToken"/> on (empty: from the root), walking the tree once.
    /// <paramref name="pageSize"/> 0 means the default. There is always at least one page, empty for an absent root.
    /// </summary>
    /// <exception cref="ArgumentException">The token is not one this walker issued for this root, or lies beyond the tree.</exception>
    public async ValueTask<IReadOnlyList<TreePage>> GetPagesAsync(string instanceName, Digest root, int pageSize, string? pageToken, CancellationToken cancellationToken) =>
        await PagesAsync(instanceName, root, pageSize, pageToken, int.MaxValue, cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// One GetTree page. <paramref name="pageSize"/> 0 means the default; an empty token starts at the root. The walk
    /// stops one directory past the page, enough to tell whether another follows.
    /// </summary>
    public async ValueTask<TreePage> GetPageAsync(string instanceName, Digest root, int pageSize, string? pageToken, CancellationToken cancellationToken) =>
        (await PagesAsync(instanceName, root, pageSize, pageToken, 1, cancellationToken).ConfigureAwait(false))[0];

    private async ValueTask<List<TreePage>> PagesAsync(string instanceName, Digest root, int pageSize, string? pageToken, int pagesMax, CancellationToken cancellationToken)
    {
        FasterBlobStore.ThrowIfInvalid(root);
        ArgumentOutOfRangeException.ThrowIfNegative(pageSize);
        int size = pageSize == 0 ? DefaultPageSize : Math.Min(pageSize, PageSizeMax);
        int start = string.IsNullOrEmpty(pageToken) ? 0 : ParseToken(pageToken, root);
        int stopAfter = (int)Math.Min(start + ((long)size * pagesMax) + 1, int.MaxValue);
        List<Directory> walked = await WalkCoreAsync(instanceName, root, stopAfter, cancellationToken).ConfigureAwait(false);
        if (start > walked.Count)
        {
            throw new ArgumentException("page token is beyond the end of the tree", nameof(pageToken));
        }

        var pages = new List<TreePage>();
        do
        {
            int count = Math.Min(size, walked.Count - start);
            string next = start + count < walked.Count ? MakeToken(root, start + count) : string.Empty;
            pages.Add(new TreePage(walked.GetRange(start, count), next));
            start += count;
        }
        while (start < walked.Count && pages.Count < pagesMax);
        return pages;
    }

    private async ValueTask<List<Directory>> WalkCoreAsync(string instanceName, Digest root, int stopAfter, CancellationToken cancellationToken)
    {
        var collector = new Collector(stopAfter);
        await _walker.WalkAsync(instanceName, root, collector, cancellationToken).ConfigureAwait(false);
        return collector.Directories;
    }

    /// <summary>Keeps the directories in walk order, stopping once it holds <c>stopAfter</c> of them.</summary>
    private sealed class Collector(int stopAfter) : IMerkleVisitor
    {
        public List<Directory> Directories { get; } = [];

        public void OnLevel(ReadOnlySpan<Digest> directories)
        {
        }

        public bool OnDirectory(Digest digest, Directory directory, string? path)
        {
            Directories.Add(directory);
            return Directories.Count < stopAfter;
        }

        public void OnMissing(Digest digest, string? path)
        {
            // Left out, with everything below it.
        }
    }

    private static string MakeToken(Digest root, int index) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{TokenPrefix}{root.Hash}/{root.SizeBytes}/{index}")));

    private static int ParseToken(string pageToken, Digest root)
    {
        string text;
        try
        {
            text = Encoding.UTF8.GetString(Convert.FromBase64String(pageToken));
        }
        catch (FormatException)
        {
            throw new ArgumentException("page token is not one this server issued", nameof(pageToken));
        }

        string expected = string.Create(CultureInfo.InvariantCulture, $"{TokenPrefix}{root.Hash}/{root.SizeBytes}/");
        if (!text.StartsWith(expected, StringComparison.Ordinal)
            || !int.TryParse(text.AsSpan(expected.Length), NumberStyles.None, CultureInfo.InvariantCulture, out int index))
        {
            throw new ArgumentException("page token is not one this server issued for this root", nameof(pageToken));
        }

        return index;
    }
}
