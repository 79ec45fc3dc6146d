using System.Text.Json;
using RaftHead.Cli.Demo;
using RaftHead.Cli.Graphs;
using RaftHead.Testing;

namespace RaftHead.Cli.Tests.Graphs;

/// <summary>
/// <c>rh graph from-make</c> on the project <c>rh demo</c> carries (src/RaftHead.Cli/Demo/c-hello), extracted as the
/// demo extracts it: a library by a sub-make, a <c>cd</c> compile, a link.
/// </summary>
public sealed class FromMakeTests : IAsyncLifetime
{
    private readonly TempDirectory _root = new("rh-frommake-");
    private string _project = "";

    public async Task InitializeAsync()
    {
        _project = await DemoProject.ExtractAsync(_root.Path, CancellationToken.None);
    }

    public Task DisposeAsync()
    {
        _root.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task The_fixtures_make_output_becomes_compiles_an_archive_and_a_link_joined_by_references()
    {
        var (code, _, stderr) = await RhProcess.RunAsync("graph", "from-make", "--dir", _project, "-o", Path.Combine(_project, "graph.json"));
        Assert.True(code == 0, stderr);
        Assert.StartsWith("rh: 6 nodes: 4 compiles, 1 archives, 1 links, 0 copies", stderr, StringComparison.Ordinal);
        // The echo lines and the sub-make's own command line are counted, not dropped silently.
        Assert.Contains("skipped 3 lines that are not build steps: echo 2, make 1", stderr, StringComparison.Ordinal);

        var graph = GraphFileJson.Parse("graph.json", await File.ReadAllBytesAsync(Path.Combine(_project, "graph.json")));
        var nodes = graph.Nodes.ToDictionary(n => n.Id);
        Assert.Equal(["src/main.o", "src/util.o", "lib/greet.o", "lib/shout.o", "lib/libgreet.a", "hello"], graph.Nodes.Select(n => n.Id));

        // `cd src && cc ...` and the sub-make's "Entering directory" set the working directory.
        Assert.Null(nodes["src/main.o"].Workdir);
        Assert.Equal("src", nodes["src/util.o"].Workdir);
        Assert.Equal(["util.o"], nodes["src/util.o"].Outputs);
        Assert.Equal("lib", nodes["lib/greet.o"].Workdir);
        Assert.Equal(["cc", "-O2", "-Wall", "-I../include", "-c", "greet.c", "-o", "greet.o"], nodes["lib/greet.o"].Argv);

        // Every compile takes the one source tree, with the headers in it.
        Assert.All(graph.Nodes.Take(4), n => Assert.Equal(["@sources"], n.Inputs!.Select(i => i.Text)));
        Assert.Equal(["include/greet.h", "lib/greet.c", "lib/shout.c", "src/main.c", "src/util.c", "src/util.h"], graph.InputSets![MakeGraphConverter.SourcesSet]);

        // ar with its ranlib, taking the objects by reference.
        Assert.Equal(["sh", "-c", "ar rcs libgreet.a greet.o shout.o && ranlib libgreet.a"], nodes["lib/libgreet.a"].Argv);
        Assert.Equal(["lib/greet.o:greet.o", "lib/shout.o:shout.o"], nodes["lib/libgreet.a"].Inputs!.Select(i => i.Text));
        Assert.Equal(["libgreet.a"], nodes["lib/libgreet.a"].Outputs);

        // The link takes both objects and the library (found through -Llib -lgreet).
        Assert.Equal(["src/main.o:src/main.o", "src/util.o:util.o", "lib/libgreet.a:libgreet.a"], nodes["hello"].Inputs!.Select(i => i.Text));

        // The file is a valid graph: it resolves, and the compiles share one input tree.
        var resolved = GraphFileLoader.Resolve("graph.json", _project, graph);
        var (request, _) = await GraphRequestBuilder.BuildAsync(resolved, null, CancellationToken.None);
        Assert.Single(request.Nodes.Take(4).Select(n => n.InputRootDigest).Distinct());
        Assert.All(request.Nodes.Skip(4), n => Assert.Null(n.InputRootDigest));
    }

    [Fact]
    public void Lines_that_are_not_understood_are_reported_with_the_reason_and_left_out()
    {
        var converter = new MakeGraphConverter(_project, _project);
        converter.AddMakeOutput(
        [
            "cc -c src/main.c -o src/main.o",
            "./mkreleasehdr.sh",
            "echo '#define X 1' > release.h",
            "cc -c \\",
            "   src/util.c -o src/util.o",
            "cc -c $(SRCS)",
            "cc -c lib/greet.c -o lib/greet.o || true",
            "printf '    %b %b\\n' CC shout.o 1>&2;cc -c lib/shout.c -o lib/shout.o",
            "(cd lib && make clean) > /dev/null || true",
            "cc -o hello src/main.o src/util.o lib/shout.o",
            "install hello hello-again",
        ]);
        Assert.Equal(
        [
            "line 2: ./mkreleasehdr.sh (mkreleasehdr.sh is not a compiler, ar, ranlib, install or cp)",
            "line 3: echo '#define X 1' > release.h (writes release.h through the shell)",
            "line 6: cc -c $(SRCS) (its meaning depends on shell expansion)",
            "line 7: cc -c lib/greet.c -o lib/greet.o || true (joins commands with '||')",
        ],
            converter.NotUnderstood);
        var graph = converter.ToGraph();
        Assert.Equal(["src/main.o", "src/util.o", "lib/shout.o", "hello", "hello-again"], graph.Nodes.Select(n => n.Id));
        Assert.Equal(["cc", "-c", "src/util.c", "-o", "src/util.o"], graph.Nodes[1].Argv);
        Assert.Equal(["hello:hello"], graph.Nodes[4].Inputs!.Select(i => i.Text));
        Assert.Equal(1, converter.Ignored["printf"]);
        Assert.Equal(1, converter.Ignored["make"]);
        Assert.Equal(1, converter.Ignored["true"]);
    }

    [Fact]
    public void A_subshells_cd_holds_only_inside_it()
    {
        var converter = new MakeGraphConverter(_project, _project);
        converter.AddMakeOutput(["(cd lib && cc -c greet.c -o greet.o); cc -c src/main.c -o src/main.o"]);
        var graph = converter.ToGraph();
        Assert.Equal(["lib/greet.o", "src/main.o"], graph.Nodes.Select(n => n.Id));
        Assert.Equal(["lib", null], graph.Nodes.Select(n => n.Workdir));
        Assert.Empty(converter.NotUnderstood);
    }

    [Fact]
    public async Task Compile_commands_with_absolute_paths_become_nodes_with_paths_inside_the_input_root()
    {
        var commands = new[]
        {
            new { directory = Path.Combine(_project, "lib"), arguments = new[] { "/usr/bin/gcc", $"-I{Path.Combine(_project, "include")}", "-c", Path.Combine(_project, "lib", "greet.c"), "-o", "greet.o" }, file = "greet.c" },
        };
        var file = Path.Combine(_project, "compile_commands.json");
        await File.WriteAllTextAsync(file, JsonSerializer.Serialize(commands));
        var stdout = new StringWriter();
        var stderr = new StringWriter();

        var code = await GraphCommand.FromMakeAsync(_project, makeOutput: null, compileCommands: file, output: null, makeArguments: [], stdout, stderr, CancellationToken.None);

        Assert.Equal(0, code);
        var graph = GraphFileJson.Parse("graph.json", System.Text.Encoding.UTF8.GetBytes(stdout.ToString()));
        var node = Assert.Single(graph.Nodes);
        Assert.Equal("lib/greet.o", node.Id);
        Assert.Equal("lib", node.Workdir);
        Assert.Equal(["/usr/bin/gcc", "-I../include", "-c", "greet.c", "-o", "greet.o"], node.Argv);
    }
}
