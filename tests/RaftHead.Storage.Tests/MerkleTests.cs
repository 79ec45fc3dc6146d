using Build.Bazel.Remote.Execution.V2;
using Google.Protobuf;
using RaftHead.Protocol;
using RaftHead.Storage.Merkle;
using RaftHead.Testing;
using static RaftHead.Storage.Tests.TestBlobs;
using Directory = Build.Bazel.Remote.Execution.V2.Directory;

namespace RaftHead.Storage.Tests;

public sealed class MerkleTests : IDisposable
{
    private static readonly Digest SomeDigest = Digests.Compute([1]);
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void ValidDirectoryPasses()
    {
        var d = new Directory();
        d.Files.Add(File("a"));
        d.Files.Add(File("b"));
        d.Directories.Add(Dir("c"));
        d.Symlinks.Add(new SymlinkNode { Name = "d", Target = "a" });

        Assert.Null(DirectoryValidator.Validate(d));
        Assert.Null(DirectoryValidator.Validate(new Directory()));
    }

    [Theory]
    [InlineData("files:b,a", "files[1] name 'a' is not sorted: it comes after 'b'")]
    [InlineData("files:a,a", "files[1] name 'a' appears more than once in files")]
    [InlineData("dirs:x,w", "directories[1] name 'w' is not sorted: it comes after 'x'")]
    [InlineData("files:", "files[0] has an empty name")]
    [InlineData("files:.", "files[0] is named '.', which is not allowed")]
    [InlineData("dirs:..", "directories[0] is named '..', which is not allowed")]
    [InlineData("files:a/b", "files[0] name 'a/b' contains '/' at position 1: names are single path components")]
    [InlineData("files:a\0b", "files[0] name 'a\\0b' contains a NUL character at position 1: names are single path components")]
    [InlineData("files:a dirs:a", "name 'a' appears in both files and directories")]
    [InlineData("dirs:a links:a", "name 'a' appears in both directories and symlinks")]
    public void InvalidDirectoriesAreNamedPrecisely(string spec, string expected)
    {
        var d = new Directory();
        foreach (string part in spec.Split(' '))
        {
            string[] kv = part.Split(':');
            foreach (string name in kv[1].Split(','))
            {
                switch (kv[0])
                {
                    case "files": d.Files.Add(File(name)); break;
                    case "dirs": d.Directories.Add(Dir(name)); break;
                    default: d.Symlinks.Add(new SymlinkNode { Name = name, Target = "t" }); break;
                }
            }
        }

        Assert.Equal(expected, DirectoryValidator.Validate(d));
    }

    [Fact]
    public void MalformedDigestsAndEmptyTargetsAreRejected()
    {
        var bad = new Directory();
        bad.Files.Add(new FileNode { Name = "f", Digest = new Digest { Hash = "xyz", SizeBytes = 1 } });
        Assert.StartsWith("files[0] 'f': digest hash must be 64", DirectoryValidator.Validate(bad));

        var missing = new Directory();
        missing.Directories.Add(new DirectoryNode { Name = "d" });
        Assert.Equal("directories[0] 'd': digest is missing", DirectoryValidator.Validate(missing));

        var link = new Directory();
        link.Symlinks.Add(new SymlinkNode { Name = "l" });
        Assert.Equal("symlinks[0] 'l' has an empty target", DirectoryValidator.Validate(link));
    }

    [Fact]
    public async Task WalkReturnsEveryDistinctDirectoryBreadthFirst()
    {
        await using FasterBlobStore store = await OpenAsync(Options(_dir.Path));
        (Digest root, List<Directory> expected) = await BuildTreeAsync(store, fanOut: 5, depth: 3);

        IReadOnlyList<Directory> walked = await new TreeWalker(store, concurrencyMax: 3).WalkAsync("", root, CancellationToken.None);

        Assert.Equal(expected, walked);
    }

    [Fact]
    public async Task PagesConcatenateToTheWholeWalk()
    {
        await using FasterBlobStore store = await OpenAsync(Options(_dir.Path));
        (Digest root, List<Directory> expected) = await BuildTreeAsync(store, fanOut: 4, depth: 3);
        var walker = new TreeWalker(store, concurrencyMax: 2);

        var all = new List<Directory>();
        string? token = null;
        int pages = 0;
        do
        {
            TreePage page = await walker.GetPageAsync("", root, 7, token, CancellationToken.None);
            all.AddRange(page.Directories);
            token = page.NextPageToken;
            pages++;
        }
        while (token.Length > 0);

        Assert.Equal(expected, all);
        Assert.Equal((expected.Count + 6) / 7, pages);

        // All pages from one walk are the same pages.
        IReadOnlyList<TreePage> together = await walker.GetPagesAsync("", root, 7, null, CancellationToken.None);
        Assert.Equal(expected, together.SelectMany(p => p.Directories));
        Assert.Equal(pages, together.Count);
        await Assert.ThrowsAsync<ArgumentException>(() => walker.GetPageAsync("", SomeDigest, 7, "bogus", CancellationToken.None).AsTask());
    }

    [Fact]
    public async Task MissingDirectoriesAreLeftOutAndInvalidOnesFailTheWalk()
    {
        await using FasterBlobStore store = await OpenAsync(Options(_dir.Path));
        var absent = new Directory();
        absent.Files.Add(File("x"));
        var root = new Directory();
        root.Directories.Add(new DirectoryNode { Name = "gone", Digest = Digests.ComputeOf(absent) });
        Digest rootDigest = await PutAsync(store, root);
        var walker = new TreeWalker(store);

        // REAPI's GetTree: the portion present, the rest omitted.
        Assert.Equal(new[] { root }, await walker.WalkAsync("", rootDigest, CancellationToken.None));
        Assert.Empty(await walker.WalkAsync("", Digests.ComputeOf(absent), CancellationToken.None));

        var unsorted = new Directory();
        unsorted.Files.Add(File("b"));
        unsorted.Files.Add(File("a"));
        Digest unsortedDigest = await PutAsync(store, unsorted);
        var invalid = await Assert.ThrowsAsync<InvalidDirectoryException>(() => walker.WalkAsync("", unsortedDigest, CancellationToken.None).AsTask());
        Assert.Contains("not sorted", invalid.Reason);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    public async Task CollectingWalkCarriesOnPastMissingDirectoriesAndNamesEachWithItsPath(int concurrency)
    {
        await using FasterBlobStore store = await OpenAsync(Options(_dir.Path));
        DeepTree tree = await BuildDeepTreeAsync(store);
        var walker = new MerkleWalker(store, new MerkleWalkOptions { ConcurrencyMax = concurrency, Visit = MerkleVisitMode.EachPath, Missing = MissingDirectoryMode.Collect });
        var seen = new Recorder();

        await walker.WalkAsync("", tree.Root, seen, CancellationToken.None);

        Assert.Equal(["", "a", "b", "a/deep"], seen.Paths);
        Assert.Equal([tree.Root, tree.A, tree.B, tree.Deep], seen.Digests);
        Assert.Equal([("b/lost", tree.Lost), ("a/deep/gone", tree.Gone)], seen.Missing);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    public async Task StoppingWalkEndsAtTheFirstMissingDirectoryInWalkOrder(int concurrency)
    {
        await using FasterBlobStore store = await OpenAsync(Options(_dir.Path));
        DeepTree tree = await BuildDeepTreeAsync(store);
        var walker = new MerkleWalker(store, new MerkleWalkOptions { ConcurrencyMax = concurrency, Visit = MerkleVisitMode.EachPath, Missing = MissingDirectoryMode.Stop });
        var seen = new Recorder();

        var missing = await Assert.ThrowsAsync<MissingDirectoryException>(() => walker.WalkAsync("", tree.Root, seen, CancellationToken.None).AsTask());

        Assert.Equal(tree.Lost, missing.Digest);
        Assert.Equal(["", "a", "b", "a/deep"], seen.Paths);
        Assert.Empty(seen.Missing);
    }

    [Fact]
    public async Task ProbedLevelsReportAbsentDirectoriesWithoutReadingThemAndShowEachLevelFirst()
    {
        await using FasterBlobStore faster = await OpenAsync(Options(_dir.Path));
        DeepTree tree = await BuildDeepTreeAsync(faster);
        var store = new CountingStore(faster);
        var walker = new MerkleWalker(store, new MerkleWalkOptions { Missing = MissingDirectoryMode.Collect, ProbeLevels = true });
        var seen = new Recorder();

        await walker.WalkAsync("", tree.Root, seen, CancellationToken.None);

        Assert.Equal([tree.Root, tree.A, tree.B, tree.Deep], seen.Digests);
        Assert.Equal([null, null, null, null], seen.Paths);
        Assert.Equal([(null, tree.Lost), (null, tree.Gone)], seen.Missing);
        Assert.Equal([[tree.Root], [tree.A, tree.B], [tree.Deep, tree.Lost], [tree.Gone]], seen.Levels);
        Assert.Equal(0, store.ReadsOf(tree.Lost));
        Assert.Equal(0, store.ReadsOf(tree.Gone));
        Assert.Equal(1, store.ReadsOf(tree.Deep));
    }

    [Fact]
    public async Task DiamondIsReadAndVisitedOncePerDigestOrOncePerPath()
    {
        await using FasterBlobStore faster = await OpenAsync(Options(_dir.Path));
        Diamond tree = await BuildDiamondAsync(faster);

        var once = new CountingStore(faster);
        var seenOnce = new Recorder();
        await new MerkleWalker(once, new MerkleWalkOptions()).WalkAsync("", tree.Root, seenOnce, CancellationToken.None);
        Assert.Equal([tree.Root, tree.X, tree.Y, tree.Shared], seenOnce.Digests);
        Assert.Equal(1, once.ReadsOf(tree.Shared));

        var perPath = new CountingStore(faster);
        var seenPerPath = new Recorder();
        await new MerkleWalker(perPath, new MerkleWalkOptions { Visit = MerkleVisitMode.EachPath }).WalkAsync("", tree.Root, seenPerPath, CancellationToken.None);
        Assert.Equal(["", "x", "y", "x/s", "y/s"], seenPerPath.Paths);
        Assert.Equal([tree.Root, tree.X, tree.Y, tree.Shared, tree.Shared], seenPerPath.Digests);
        Assert.Equal(2, perPath.ReadsOf(tree.Shared));
    }

    [Fact]
    public async Task BoundsOnDirectoriesDepthAndDirectorySizeAreEnforcedAtTheirEdge()
    {
        await using FasterBlobStore faster = await OpenAsync(Options(_dir.Path));
        Diamond tree = await BuildDiamondAsync(faster);
        var store = new CountingStore(faster);

        // Four distinct directories, five paths, two levels below the root.
        await WalkAsync(new MerkleWalkOptions { DirectoriesMax = 4 });
        var count = await Assert.ThrowsAsync<MerkleLimitException>(() => WalkAsync(new MerkleWalkOptions { DirectoriesMax = 3 }));
        Assert.Equal(MerkleLimit.Directories, count.Limit);
        Assert.Equal($"tree under {tree.Root.Hash}/{tree.Root.SizeBytes} has more than 3 directories", count.Message);
        await WalkAsync(new MerkleWalkOptions { DirectoriesMax = 5, Visit = MerkleVisitMode.EachPath });
        await Assert.ThrowsAsync<MerkleLimitException>(() => WalkAsync(new MerkleWalkOptions { DirectoriesMax = 4, Visit = MerkleVisitMode.EachPath }));

        await WalkAsync(new MerkleWalkOptions { DepthMax = 2 });
        var depth = await Assert.ThrowsAsync<MerkleLimitException>(() => WalkAsync(new MerkleWalkOptions { DepthMax = 1 }));
        Assert.Equal(MerkleLimit.Depth, depth.Limit);
        Assert.Equal(1, depth.LimitValue);

        long largest = Math.Max(Math.Max(tree.Root.SizeBytes, tree.X.SizeBytes), Math.Max(tree.Y.SizeBytes, tree.Shared.SizeBytes));
        await WalkAsync(new MerkleWalkOptions { DirectoryMaxBytes = largest });
        int readsBefore = store.ReadsOf(tree.Root);
        var size = await Assert.ThrowsAsync<InvalidDirectoryException>(() => WalkAsync(new MerkleWalkOptions { DirectoryMaxBytes = tree.Root.SizeBytes - 1 }));
        Assert.Equal(InvalidDirectoryKind.TooLarge, size.Kind);
        Assert.Equal(tree.Root, size.Digest);
        Assert.Equal(readsBefore, store.ReadsOf(tree.Root));

        Task WalkAsync(MerkleWalkOptions options) => new MerkleWalker(store, options).WalkAsync("", tree.Root, new Recorder(), CancellationToken.None).AsTask();
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(8)]
    public async Task TheErrorThatEndsAWalkIsTheFirstInWalkOrderWhateverTheConcurrency(int concurrency)
    {
        await using FasterBlobStore store = await OpenAsync(Options(_dir.Path));
        var absent = new Directory();
        absent.Files.Add(File("never"));
        var unsorted = new Directory();
        unsorted.Files.Add(File("b"));
        unsorted.Files.Add(File("a"));
        byte[] junk = [0xFF, 0xFF, 0xFF];
        Digest junkDigest = Digests.Compute(junk);
        await store.PutAsync("", junkDigest, junk, CancellationToken.None);
        var root = new Directory();
        root.Directories.Add(new DirectoryNode { Name = "m", Digest = Digests.ComputeOf(absent) });
        root.Directories.Add(new DirectoryNode { Name = "u", Digest = await PutAsync(store, unsorted) });
        root.Directories.Add(new DirectoryNode { Name = "v", Digest = junkDigest });
        Digest rootDigest = await PutAsync(store, root);

        var stop = new MerkleWalker(store, new MerkleWalkOptions { ConcurrencyMax = concurrency, Visit = MerkleVisitMode.EachPath });
        var missing = await Assert.ThrowsAsync<MissingDirectoryException>(() => stop.WalkAsync("", rootDigest, new Recorder(), CancellationToken.None).AsTask());
        Assert.Equal(Digests.ComputeOf(absent), missing.Digest);

        var collect = new MerkleWalker(store, new MerkleWalkOptions { ConcurrencyMax = concurrency, Visit = MerkleVisitMode.EachPath, Missing = MissingDirectoryMode.Collect });
        var seen = new Recorder();
        var invalid = await Assert.ThrowsAsync<InvalidDirectoryException>(() => collect.WalkAsync("", rootDigest, seen, CancellationToken.None).AsTask());
        Assert.Equal(InvalidDirectoryKind.BreaksRules, invalid.Kind);
        Assert.Equal("u", invalid.Path);
        Assert.Equal("files[1] name 'a' is not sorted: it comes after 'b'", invalid.Reason);
        Assert.Equal([("m", Digests.ComputeOf(absent))], seen.Missing);

        root.Directories.RemoveAt(1);
        Digest withJunk = await PutAsync(store, root);
        var unparsable = await Assert.ThrowsAsync<InvalidDirectoryException>(() => collect.WalkAsync("", withJunk, new Recorder(), CancellationToken.None).AsTask());
        Assert.Equal(InvalidDirectoryKind.Unparsable, unparsable.Kind);
        Assert.Equal("v", unparsable.Path);
        Assert.IsType<InvalidProtocolBufferException>(unparsable.InnerException);
    }

    [Fact]
    public async Task AVisitorThatSaysStopEndsTheWalkAtOnce()
    {
        await using FasterBlobStore store = await OpenAsync(Options(_dir.Path));
        Diamond tree = await BuildDiamondAsync(store);
        var seen = new Recorder { StopAfter = 2 };

        await new MerkleWalker(store, new MerkleWalkOptions()).WalkAsync("", tree.Root, seen, CancellationToken.None);

        Assert.Equal([tree.Root, tree.X], seen.Digests);
    }

    /// <summary>
    /// root: a/ (deep/ (gone/ absent)), b/ (lost/ absent): a missing directory at level 2 and one at level 3,
    /// the deeper one under a directory walked before the shallower one's parent's sibling.
    /// </summary>
    private static async Task<DeepTree> BuildDeepTreeAsync(FasterBlobStore store)
    {
        var gone = new Directory();
        gone.Files.Add(File("gone-file"));
        var lost = new Directory();
        lost.Files.Add(File("lost-file"));
        var deep = new Directory();
        deep.Directories.Add(new DirectoryNode { Name = "gone", Digest = Digests.ComputeOf(gone) });
        Digest deepDigest = await PutAsync(store, deep);
        var a = new Directory();
        a.Directories.Add(new DirectoryNode { Name = "deep", Digest = deepDigest });
        Digest aDigest = await PutAsync(store, a);
        var b = new Directory();
        b.Files.Add(File("b-file"));
        b.Directories.Add(new DirectoryNode { Name = "lost", Digest = Digests.ComputeOf(lost) });
        Digest bDigest = await PutAsync(store, b);
        var root = new Directory();
        root.Directories.Add(new DirectoryNode { Name = "a", Digest = aDigest });
        root.Directories.Add(new DirectoryNode { Name = "b", Digest = bDigest });
        return new DeepTree(await PutAsync(store, root), aDigest, bDigest, deepDigest, Digests.ComputeOf(lost), Digests.ComputeOf(gone));
    }

    /// <summary>root: x/ (s/), y/ (s/), the same s under both.</summary>
    private static async Task<Diamond> BuildDiamondAsync(FasterBlobStore store)
    {
        var shared = new Directory();
        shared.Files.Add(File("shared"));
        Digest sharedDigest = await PutAsync(store, shared);
        var x = new Directory();
        x.Files.Add(File("fx"));
        x.Directories.Add(new DirectoryNode { Name = "s", Digest = sharedDigest });
        var y = new Directory();
        y.Files.Add(File("fy"));
        y.Directories.Add(new DirectoryNode { Name = "s", Digest = sharedDigest });
        Digest xDigest = await PutAsync(store, x);
        Digest yDigest = await PutAsync(store, y);
        var root = new Directory();
        root.Directories.Add(new DirectoryNode { Name = "x", Digest = xDigest });
        root.Directories.Add(new DirectoryNode { Name = "y", Digest = yDigest });
        return new Diamond(await PutAsync(store, root), xDigest, yDigest, sharedDigest);
    }

    private static async Task<(Digest Root, List<Directory> BreadthFirst)> BuildTreeAsync(FasterBlobStore store, int fanOut, int depth)
    {
        // Level by level from the leaves up; a shared leaf appears under every parent but is walked once.
        var shared = new Directory();
        shared.Files.Add(File("shared"));
        Digest sharedDigest = await PutAsync(store, shared);
        var levels = new List<List<Directory>>();
        List<Directory> below = [];
        for (int level = depth; level >= 0; level--)
        {
            int count = level == 0 ? 1 : (int)Math.Pow(fanOut, level);
            var current = new List<Directory>();
            for (int i = 0; i < count; i++)
            {
                var d = new Directory();
                d.Files.Add(new FileNode { Name = $"f{level}-{i}", Digest = SomeDigest });
                if (level < depth)
                {
                    for (int c = 0; c < fanOut; c++)
                    {
                        Directory child = below[(i * fanOut) + c];
                        d.Directories.Add(new DirectoryNode { Name = $"d{c}", Digest = Digests.ComputeOf(child) });
                    }

                    d.Directories.Add(new DirectoryNode { Name = "z-shared", Digest = sharedDigest });
                }

                await PutAsync(store, d);
                current.Add(d);
            }

            levels.Insert(0, current);
            below = current;
        }

        var expected = new List<Directory>();
        foreach (List<Directory> level in levels)
        {
            expected.AddRange(level);
            if (expected.Count == 1)
            {
                continue;
            }

            if (!expected.Contains(shared))
            {
                expected.Add(shared);
            }
        }

        // The shared leaf is first met as the last child of the root, so BFS lists it after level 1.
        expected.Remove(shared);
        expected.Insert(1 + fanOut, shared);
        return (Digests.ComputeOf(levels[0][0]), expected);
    }

    private static async Task<Digest> PutAsync(FasterBlobStore store, Directory directory)
    {
        byte[] bytes = directory.ToByteArray();
        Digest digest = Digests.Compute(bytes);
        await store.PutAsync("", digest, bytes, CancellationToken.None);
        return digest;
    }

    private static FileNode File(string name) => new() { Name = name, Digest = SomeDigest };

    private static DirectoryNode Dir(string name) => new() { Name = name, Digest = SomeDigest };

    private sealed record DeepTree(Digest Root, Digest A, Digest B, Digest Deep, Digest Lost, Digest Gone);

    private sealed record Diamond(Digest Root, Digest X, Digest Y, Digest Shared);

    private sealed class Recorder : IMerkleVisitor
    {
        public int StopAfter { get; init; } = int.MaxValue;

        public List<Digest> Digests { get; } = [];

        public List<string?> Paths { get; } = [];

        public List<(string? Path, Digest Digest)> Missing { get; } = [];

        public List<Digest[]> Levels { get; } = [];

        public void OnLevel(ReadOnlySpan<Digest> directories) => Levels.Add(directories.ToArray());

        public bool OnDirectory(Digest digest, Directory directory, string? path)
        {
            Assert.Equal(digest, RaftHead.Protocol.Digests.ComputeOf(directory));
            Digests.Add(digest);
            Paths.Add(path);
            return Digests.Count < StopAfter;
        }

        public void OnMissing(Digest digest, string? path) => Missing.Add((path, digest));
    }

    /// <summary>A store that counts the reads of each blob.</summary>
    private sealed class CountingStore(IBlobStore inner) : IBlobStore
    {
        private readonly System.Collections.Concurrent.ConcurrentDictionary<(string, long), int> _reads = new();

        public int ReadsOf(Digest digest) => _reads.GetValueOrDefault((digest.Hash, digest.SizeBytes));

        public ValueTask FindMissingAsync(string instanceName, IReadOnlyList<Digest> digests, List<Digest> missing, CancellationToken cancellationToken) =>
            inner.FindMissingAsync(instanceName, digests, missing, cancellationToken);

        public ValueTask PutAsync(string instanceName, Digest digest, ReadOnlyMemory<byte> data, CancellationToken cancellationToken) =>
            inner.PutAsync(instanceName, digest, data, cancellationToken);

        public IBlobWriter BeginWrite(string instanceName, Digest digest) => inner.BeginWrite(instanceName, digest);

        public ValueTask<Stream?> OpenReadAsync(string instanceName, Digest digest, long offset, long limit, CancellationToken cancellationToken)
        {
            _reads.AddOrUpdate((digest.Hash, digest.SizeBytes), 1, (_, n) => n + 1);
            return inner.OpenReadAsync(instanceName, digest, offset, limit, cancellationToken);
        }

        public IDisposable Pin(string instanceName, Digest digest) => inner.Pin(instanceName, digest);
    }
}
