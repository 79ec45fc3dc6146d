using RaftHead.Cli.Graphs;
using RaftHead.Testing;

namespace RaftHead.Cli.Tests.Graphs;

/// <summary>Reading graph files: what a good one means, and errors that say where and what for a bad one.</summary>
public sealed class GraphFileTests : IDisposable
{
    private readonly TempDirectory _dir = new("rh-graphfile-");

    public GraphFileTests()
    {
        Directory.CreateDirectory(_dir.Combine("src"));
        File.WriteAllText(_dir.Combine("src", "a.c"), "int a;\n");
    }

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_good_file_resolves_local_inputs_references_and_input_sets()
    {
        var graph = await LoadAsync("""
            {
              // Comments and trailing commas are allowed: people write these files.
              "instance_name": "main",
              "input_sets": { "tree": ["src/"] },
              "nodes": [
                { "id": "compile", "argv": ["cc", "-c", "src/a.c"], "inputs": ["@tree", "src/a.c"], "outputs": ["a.o"], "env": {"LANG": "C"}, "timeout_s": 30, },
                { "id": "link", "argv": ["cc", "-o", "app", "a.o", "objs/a.o"],
                  "inputs": ["compile:a.o", {"from": "compile", "output": "a.o", "path": "objs/a.o"}], "outputs": ["app"], "workdir": "" }
              ]
            }
            """);
        Assert.Equal("main", graph.File.InstanceName);
        Assert.Equal(["src", "src/a.c"], graph.Nodes[0].LocalInputs);
        Assert.Empty(graph.Nodes[0].References);
        Assert.Empty(graph.Nodes[1].LocalInputs);
        Assert.Equal(2, graph.Nodes[1].References.Count);
        Assert.Equal(("compile", "a.o", ""), (graph.Nodes[1].References[0].Node, graph.Nodes[1].References[0].Output, graph.Nodes[1].References[0].Path));
        Assert.Equal("objs/a.o", graph.Nodes[1].References[1].Path);
    }

    [Fact]
    public async Task A_string_whose_prefix_is_not_a_node_is_a_local_path_even_with_a_colon()
    {
        File.WriteAllText(_dir.Combine("odd:name.txt"), "x");
        var graph = await LoadAsync("""{ "nodes": [ { "id": "n", "argv": ["true"], "inputs": ["odd:name.txt"] } ] }""");
        Assert.Equal(["odd:name.txt"], graph.Nodes[0].LocalInputs);
    }

    [Theory]
    [InlineData("{ \"nodes\": [ { \"id\": \"n\", \"argv\": [\"true\"] }\n  ,, ] }", "graph.json:2:")]
    [InlineData("{ \"nodes\": [\n { \"id\": \"compile\", \"argv\": [\"cc\"],\n \"colour\": \"red\" } ] }", "graph.json:3:", "node 'compile'", "unknown key 'colour'")]
    [InlineData("{ \"nodes\": [ { \"id\": \"compile\" } ] }", "node 'compile'", "'argv' is missing")]
    [InlineData("{ \"nodes\": [ { \"id\": \"compile\", \"argv\": \"cc -c a.c\" } ] }", "node 'compile', argv", "must be an array of strings")]
    [InlineData("{ \"nodes\": [ { \"id\": \"compile\", \"argv\": [] } ] }", "node 'compile', argv: is empty")]
    [InlineData("{ \"nodes\": [ { \"id\": \"compile\", \"argv\": [\"cc\"], \"inputs\": [\"src/missing.c\"] } ] }", "node 'compile', inputs[0]: 'src/missing.c' is not a file or directory")]
    [InlineData("{ \"nodes\": [ { \"id\": \"compile\", \"argv\": [\"cc\"], \"inputs\": [\"src/a.c/\"] } ] }", "node 'compile', inputs[0]: 'src/a.c/' ends with '/'")]
    [InlineData("{ \"nodes\": [ { \"id\": \"compile\", \"argv\": [\"cc\"], \"inputs\": [\"../etc/passwd\"] } ] }", "node 'compile', inputs[0]", "leaves its directory")]
    [InlineData("{ \"nodes\": [ { \"id\": \"c\", \"argv\": [\"cc\"], \"outputs\": [\"a.o\"] }, { \"id\": \"l\", \"argv\": [\"ld\"], \"inputs\": [\"c:b.o\"] } ] }", "node 'l', inputs[0]: 'c:b.o': node 'c' has no output 'b.o' (its outputs: 'a.o')")]
    [InlineData("{ \"nodes\": [ { \"id\": \"l\", \"argv\": [\"ld\"], \"inputs\": [{\"from\": \"nobody\", \"output\": \"a.o\"}] } ] }", "node 'l', inputs[0].from: 'nobody' is not a node of this graph")]
    [InlineData("{ \"nodes\": [ { \"id\": \"l\", \"argv\": [\"ld\"], \"inputs\": [{\"from\": \"l\", \"output\": \"a.o\", \"where\": \"x\"}] } ] }", "node 'l', inputs[0]", "unknown key 'where' in an input object")]
    [InlineData("{ \"nodes\": [ { \"id\": \"c\", \"argv\": [\"cc\"] }, { \"id\": \"c\", \"argv\": [\"cc\"] } ] }", "node 'c', id: the id is used by an earlier node too")]
    [InlineData("{ \"nodes\": [ { \"id\": \"a b\", \"argv\": [\"cc\"] } ] }", "nodes[0], id: 'a b' has ' '")]
    [InlineData("{ \"nodes\": [ { \"id\": \"c\", \"argv\": [\"cc\"], \"outputs\": [\"/tmp/a.o\"] } ] }", "node 'c', outputs[0]: '/tmp/a.o' is absolute")]
    [InlineData("{ \"nodes\": [ { \"id\": \"c\", \"argv\": [\"cc\"], \"inputs\": [\"@headers\"] } ] }", "node 'c', inputs[0]: '@headers' names no input set")]
    [InlineData("{ \"nodes\": [ { \"id\": \"c\", \"argv\": [\"cc\"], \"timeout_s\": -1 } ] }", "node 'c', timeout_s: must be a number of seconds >= 0")]
    [InlineData("{ \"nodes\": [] }", "nodes is empty")]
    public async Task A_bad_file_is_an_error_naming_the_place_node_and_field(string json, params string[] expected)
    {
        var error = await Assert.ThrowsAsync<GraphFileException>(() => LoadAsync(json));
        Assert.StartsWith("graph.json", error.Message, StringComparison.Ordinal);
        foreach (var fragment in expected)
        {
            Assert.Contains(fragment, error.Message, StringComparison.Ordinal);
        }
    }

    private async Task<ResolvedGraph> LoadAsync(string json)
    {
        var path = _dir.Combine("graph.json");
        await File.WriteAllTextAsync(path, json);
        // Named relative to the current directory would vary; the tests read the name they gave.
        var graph = GraphFileJson.Parse("graph.json", await File.ReadAllBytesAsync(path));
        return GraphFileLoader.Resolve("graph.json", _dir.Path, graph);
    }
}
