using System.Text.Json;
using RaftHead.Cli.Graphs;

namespace RaftHead.Cli.Tests.Graphs;

/// <summary>The committed graph.schema.json is the model's: a change to either without the other fails here.</summary>
public sealed class GraphSchemaTests
{
    [Fact]
    public void The_committed_schema_is_the_one_the_model_generates()
    {
        var committed = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Graphs", "graph.schema.json"));
        var generated = GraphFileJson.Schema();
        Assert.True(
            committed == generated,
            "src/RaftHead.Cli/Graphs/graph.schema.json differs from the model; regenerate it with `rh graph schema > src/RaftHead.Cli/Graphs/graph.schema.json`.");
    }

    [Fact]
    public void The_schema_names_every_key_the_reader_accepts_and_forbids_others()
    {
        using var schema = JsonDocument.Parse(GraphFileJson.Schema());
        var root = schema.RootElement;
        Assert.False(root.GetProperty("additionalProperties").GetBoolean());
        Assert.Equal(["graph_id", "instance_name", "input_sets", "nodes"], root.GetProperty("properties").EnumerateObject().Select(p => p.Name));
        var node = root.GetProperty("properties").GetProperty("nodes").GetProperty("items");
        Assert.False(node.GetProperty("additionalProperties").GetBoolean());
        Assert.Equal(
            ["id", "argv", "env", "inputs", "outputs", "platform", "workdir", "timeout_s", "do_not_cache"],
            node.GetProperty("properties").EnumerateObject().Select(p => p.Name));
        Assert.Equal(["id", "argv"], node.GetProperty("required").EnumerateArray().Select(e => e.GetString()));
        var input = node.GetProperty("properties").GetProperty("inputs").GetProperty("items").GetProperty("oneOf");
        Assert.Equal(["string", "object"], input.EnumerateArray().Select(e => e.GetProperty("type").GetString()));
    }
}
