using System.Text.Json.Serialization;

namespace RaftHead.Cli.Graphs;

/// <summary>
/// One entry of a node's inputs. Written either as a string (a local path, <c>@set</c>, or <c>node:output</c> when the
/// part before the first ':' is a node of the graph) or as an object naming another node's output and where it goes.
/// A string is kept as written (<see cref="Text"/>) and resolved once every node id is known.
/// </summary>
[JsonConverter(typeof(GraphFileInputConverter))]
internal sealed record GraphFileInput
{
    /// <summary>The string form, as written; null for the object form.</summary>
    public string? Text { get; init; }

    /// <summary>The producing node (object form).</summary>
    public string? From { get; init; }

    /// <summary>One of the producer's outputs (object form).</summary>
    public string? Output { get; init; }

    /// <summary>Where it goes in this node's input root (object form); empty: where it was in the producer's.</summary>
    public string? Path { get; init; }
}
