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
        await Assert.ThrowsAsync<ArgumentException>(() => walker.GetPageAsync("", SomeDigest, 7, "bogus", CancellationToken.None).AsTask());
    }

    [Fact]
    public async Task MissingOrInvalidDirectoriesFailTheWalk()
    {
        await using FasterBlobStore store = await OpenAsync(Options(_dir.Path));
        var absent = new Directory();
        absent.Files.Add(File("x"));
        var root = new Directory();
        root.Directories.Add(new DirectoryNode { Name = "gone", Digest = Digests.ComputeOf(absent) });
        Digest rootDigest = await PutAsync(store, root);
        var walker = new TreeWalker(store);

        var missing = await Assert.ThrowsAsync<MissingDirectoryException>(() => walker.WalkAsync("", rootDigest, CancellationToken.None).AsTask());
        Assert.Equal(Digests.ComputeOf(absent), missing.Digest);

        var unsorted = new Directory();
        unsorted.Files.Add(File("b"));
        unsorted.Files.Add(File("a"));
        Digest unsortedDigest = await PutAsync(store, unsorted);
        var invalid = await Assert.ThrowsAsync<InvalidDirectoryException>(() => walker.WalkAsync("", unsortedDigest, CancellationToken.None).AsTask());
        Assert.Contains("not sorted", invalid.Reason);
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
}
