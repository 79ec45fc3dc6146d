using RaftHead.Cli.Demo;
using RaftHead.Cli.Graphs;
using RaftHead.Testing;

namespace RaftHead.Cli.Tests.Demo;

/// <summary>The project <c>rh demo</c> carries: its stored make output must still say what its Makefiles do.</summary>
public sealed class DemoProjectTests : IDisposable
{
    private readonly TempDirectory _root = new("rh-demo-project-");

    public void Dispose() => _root.Dispose();

    [Fact]
    public async Task The_stored_make_output_makes_the_graph_rh_graph_from_make_makes_from_the_makefiles()
    {
        var project = await DemoProject.ExtractAsync(_root.Path, CancellationToken.None);
        var stdout = new StringWriter();
        var stderr = new StringWriter();

        // make itself, on the extracted sources: what a person would get from `rh graph from-make`.
        var code = await GraphCommand.FromMakeAsync(project, makeOutput: null, compileCommands: null, output: null, makeArguments: [], stdout, stderr, CancellationToken.None);

        Assert.True(code == 0, stderr.ToString());
        var demo = DemoProject.Graph(project);
        Assert.Equal(stdout.ToString(), GraphFileJson.Serialize(demo.File));
        Assert.Contains(demo.Nodes, n => n.Node.Id == DemoProject.ProgramNode && n.Node.Outputs!.SequenceEqual([DemoProject.ProgramOutput]));
    }

    [Fact]
    public async Task The_stored_make_output_names_the_project_only_through_the_placeholder()
    {
        var project = await DemoProject.ExtractAsync(_root.Path, CancellationToken.None);

        var lines = DemoProject.MakeOutput(project);

        // Every directory make entered is the extracted project or below it: nothing of the machine it was made on.
        var entered = lines.Where(l => l.Contains("Entering directory", StringComparison.Ordinal)).ToList();
        Assert.Equal([$"make: Entering directory '{project}'", $"make[1]: Entering directory '{project}/lib'"], entered);
        Assert.DoesNotContain(lines, l => l.Contains(DemoProject.ProjectPlaceholder, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Extracting_writes_every_source_of_the_project()
    {
        var project = await DemoProject.ExtractAsync(_root.Path, CancellationToken.None);

        var files = Directory.EnumerateFiles(project, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(project, f)).Order(StringComparer.Ordinal);
        Assert.Equal(["Makefile", "include/greet.h", "lib/Makefile", "lib/greet.c", "lib/shout.c", "src/main.c", "src/util.c", "src/util.h"], files);
    }

    [Fact]
    public void A_missing_compiler_is_named_with_the_package_that_brings_it()
    {
        Assert.Equal(
            $"the demo builds C, but there is no cc in {_root.Path}: install the gcc package (apt-get install gcc)",
            DemoProject.MissingTool(_root.Path));

        // A cc that is not executable is no compiler either; one that is, with ar and ranlib, is enough.
        var cc = _root.Combine("cc");
        File.WriteAllText(cc, "");
        Assert.StartsWith("the demo builds C, but there is no cc in ", DemoProject.MissingTool(_root.Path), StringComparison.Ordinal);
        foreach (var tool in new[] { "cc", "ar", "ranlib" })
        {
            File.WriteAllText(_root.Combine(tool), "");
            File.SetUnixFileMode(_root.Combine(tool), UnixFileMode.UserRead | UnixFileMode.UserExecute);
        }

        Assert.Null(DemoProject.MissingTool(_root.Path));
        File.Delete(_root.Combine("ar"));
        Assert.Equal($"the demo builds C, but there is no ar in {_root.Path}: install the binutils package (apt-get install binutils)", DemoProject.MissingTool(_root.Path));
    }
}
