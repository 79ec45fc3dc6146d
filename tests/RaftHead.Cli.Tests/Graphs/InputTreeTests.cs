using System.Text;
using Build.Bazel.Remote.Execution.V2;
using Google.Protobuf;
using RaftHead.Cli.Graphs;
using RaftHead.Protocol;
using RaftHead.Testing;
using ReapiDirectory = Build.Bazel.Remote.Execution.V2.Directory;

namespace RaftHead.Cli.Tests.Graphs;

/// <summary>Local inputs as REAPI trees: digests equal to hand-built Directory messages, shared where equal.</summary>
public sealed class InputTreeTests : IDisposable
{
    private readonly TempDirectory _dir = new("rh-inputtree-");

    public InputTreeTests()
    {
        System.IO.Directory.CreateDirectory(_dir.Combine("include"));
        System.IO.Directory.CreateDirectory(_dir.Combine("src"));
        System.IO.Directory.CreateDirectory(_dir.Combine("tools"));
        File.WriteAllText(_dir.Combine("include", "x.h"), "#define X 1\n");
        File.WriteAllText(_dir.Combine("src", "a.c"), "int a;\n");
        File.WriteAllText(_dir.Combine("tools", "run.sh"), "#!/bin/sh\necho run\n");
        File.SetUnixFileMode(_dir.Combine("tools", "run.sh"), (UnixFileMode)Convert.ToInt32("755", 8));
        File.CreateSymbolicLink(_dir.Combine("tools", "current"), "run.sh");
    }

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_known_tree_has_the_digest_of_its_hand_built_directories()
    {
        var builder = new InputTreeBuilder(_dir.Path);
        var root = await builder.BuildAsync(["src/a.c", "include/", "tools"], "n", CancellationToken.None);

        var include = new ReapiDirectory { Files = { FileEntry("x.h", "#define X 1\n") } };
        var src = new ReapiDirectory { Files = { FileEntry("a.c", "int a;\n") } };
        var tools = new ReapiDirectory
        {
            Files = { FileEntry("run.sh", "#!/bin/sh\necho run\n", executable: true) },
            Symlinks = { new SymlinkNode { Name = "current", Target = "run.sh" } },
        };
        var expected = new ReapiDirectory
        {
            Directories =
            {
                new DirectoryNode { Name = "include", Digest = Digests.ComputeOf(include) },
                new DirectoryNode { Name = "src", Digest = Digests.ComputeOf(src) },
                new DirectoryNode { Name = "tools", Digest = Digests.ComputeOf(tools) },
            },
        };
        Assert.Equal(Digests.ComputeOf(expected), root);

        // Every blob the tree needs, each once: three files, four directories.
        Assert.Equal(7, builder.Blobs.Count);
        Assert.Equal(expected.ToByteArray(), builder.Blobs[root].Bytes.ToArray());
        Assert.Equal(_dir.Combine("src", "a.c"), builder.Blobs[Digests.Compute("int a;\n"u8)].FilePath);
    }

    [Fact]
    public async Task Nodes_with_the_same_inputs_share_one_tree_and_common_subtrees_are_stored_once()
    {
        var builder = new InputTreeBuilder(_dir.Path);
        var first = await builder.BuildAsync(["include", "src"], "a", CancellationToken.None);
        var blobs = builder.Blobs.Count;
        var second = await builder.BuildAsync(["src/", "include/"], "b", CancellationToken.None);
        Assert.Equal(first, second);
        Assert.Equal(blobs, builder.Blobs.Count);

        // Only src: a new root, but src's Directory and a.c are the ones already there.
        var third = await builder.BuildAsync(["src"], "c", CancellationToken.None);
        Assert.NotEqual(first, third);
        Assert.Equal(blobs + 1, builder.Blobs.Count);
    }

    [Fact]
    public async Task Entries_are_sorted_by_their_utf8_bytes()
    {
        foreach (var name in new[] { "z", "é", "B", "a", "\U0001F600", "\uFF21" })
        {
            File.WriteAllText(_dir.Combine("src", name), name);
        }

        var builder = new InputTreeBuilder(_dir.Path);
        var root = await builder.BuildAsync(["src"], "n", CancellationToken.None);
        var rootDirectory = ReapiDirectory.Parser.ParseFrom(builder.Blobs[root].Bytes.Span);
        var src = ReapiDirectory.Parser.ParseFrom(builder.Blobs[rootDirectory.Directories[0].Digest].Bytes.Span);
        var names = src.Files.Select(f => f.Name).ToList();
        var byBytes = names.OrderBy(n => Convert.ToHexString(Encoding.UTF8.GetBytes(n)), StringComparer.Ordinal).ToList();
        Assert.Equal(byBytes, names);
        // UTF-16 order would put the emoji (a surrogate pair) before U+FF21; UTF-8 puts it after.
        Assert.True(names.IndexOf("\uFF21") < names.IndexOf("\U0001F600"));
    }

    [Fact]
    public async Task A_name_that_is_a_file_in_one_input_and_a_directory_in_another_is_an_error_naming_the_node()
    {
        var builder = new InputTreeBuilder(_dir.Path);
        var error = await Assert.ThrowsAsync<GraphFileException>(() => builder.BuildAsync(["tools/run.sh", "tools/run.sh/x"], "compile", CancellationToken.None));
        Assert.Contains("node 'compile'", error.Message, StringComparison.Ordinal);
        Assert.Contains("'tools/run.sh'", error.Message, StringComparison.Ordinal);
    }

    private static FileNode FileEntry(string name, string content, bool executable = false) =>
        new() { Name = name, Digest = Digests.Compute(Encoding.UTF8.GetBytes(content)), IsExecutable = executable };
}
