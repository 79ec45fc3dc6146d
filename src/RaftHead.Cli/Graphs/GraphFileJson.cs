using System.ComponentModel;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Schema;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;

namespace RaftHead.Cli.Graphs;

/// <summary>
/// The graph file's JSON: how it is read (errors with file:line:column and the node they are in), written, and
/// described as a JSON Schema generated from the model, so the committed schema is checked against the model.
/// </summary>
internal static partial class GraphFileJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        WriteIndented = true,
        // The file is read by people: "don't" rather than "don\u0027t". It is never embedded in HTML.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        TypeInfoResolver = new System.Text.Json.Serialization.Metadata.DefaultJsonTypeInfoResolver(),
    };

    /// <summary>Reads <paramref name="content"/>; <paramref name="fileName"/> names it in errors.</summary>
    public static GraphFile Parse(string fileName, byte[] content)
    {
        try
        {
            return JsonSerializer.Deserialize<GraphFile>(content, Options)
                ?? throw new GraphFileException($"{fileName}: the file is 'null', not a graph object");
        }
        catch (JsonException e)
        {
            throw new GraphFileException(Describe(fileName, content, e));
        }
    }

    public static string Serialize(GraphFile graph) => JsonSerializer.Serialize(graph, Options) + "\n";

    /// <summary>The JSON Schema of the graph file, as committed in graph.schema.json.</summary>
    public static string Schema()
    {
        var schema = Options.GetJsonSchemaAsNode(typeof(GraphFile), new JsonSchemaExporterOptions
        {
            TreatNullObliviousAsNonNullable = true,
            TransformSchemaNode = Describe,
        });
        var root = schema.AsObject();
        var titled = new JsonObject
        {
            ["$schema"] = "https://json-schema.org/draft/2020-12/schema",
            ["title"] = "RaftHead action graph",
        };
        foreach (var (key, value) in root.ToList())
        {
            root.Remove(key);
            titled[key] = value;
        }

        return titled.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }).ReplaceLineEndings("\n") + "\n";
    }

    private static JsonNode Describe(JsonSchemaExporterContext context, JsonNode schema)
    {
        if (context.PropertyInfo?.PropertyType == typeof(List<GraphFileInput>) && schema is JsonObject list)
        {
            // The converter reads two shapes; the exporter cannot see inside a converter, so they are stated here.
            list["items"] = InputSchema();
        }

        if (context.PropertyInfo?.AttributeProvider is { } provider
            && provider.GetCustomAttributes(typeof(DescriptionAttribute), inherit: false) is [DescriptionAttribute description, ..]
            && schema is JsonObject described)
        {
            described.Insert(0, "description", description.Description);
        }

        return schema;
    }

    private static JsonObject InputSchema() => new()
    {
        ["oneOf"] = new JsonArray
        {
            new JsonObject
            {
                ["type"] = "string",
                ["description"] = "A local path relative to the graph file (\"dir/\": a whole directory), \"@set\" (an input set), or \"node:output\" when the part before the first ':' is a node of this graph.",
            },
            new JsonObject
            {
                ["type"] = "object",
                ["properties"] = new JsonObject
                {
                    ["from"] = new JsonObject { ["type"] = "string", ["description"] = "The producing node's id." },
                    ["output"] = new JsonObject { ["type"] = "string", ["description"] = "One of its outputs, as written there." },
                    ["path"] = new JsonObject { ["type"] = "string", ["description"] = "Where it goes in this node's input root. Default: where it was in the producer's." },
                },
                ["required"] = new JsonArray("from", "output"),
                ["additionalProperties"] = false,
            },
        },
    };

    private static string Describe(string fileName, byte[] content, JsonException e)
    {
        var place = e.LineNumber is { } line
            ? string.Create(CultureInfo.InvariantCulture, $"{fileName}:{line + 1}:{(e.BytePositionInLine ?? 0) + 1}: ")
            : $"{fileName}: ";
        var path = e.Path ?? "$";
        return place + Where(content, path) + What(e, path);
    }

    /// <summary>"node 'x' " when the error is inside a node whose id can be read, else the JSON path.</summary>
    private static string Where(byte[] content, string path)
    {
        var match = NodeIndex().Match(path);
        if (!match.Success)
        {
            return path == "$" ? "" : $"at {path}: ";
        }

        var index = int.Parse(match.Groups[1].ValueSpan, CultureInfo.InvariantCulture);
        var field = path[match.Length..].TrimStart('.');
        var id = NodeId(content, index);
        var node = id is null ? $"nodes[{index}]" : $"node '{id}'";
        return field.Length == 0 ? $"{node}: " : $"{node}, {field}: ";
    }

    private static string What(JsonException e, string path)
    {
        var message = StripPosition(e.Message);
        var key = LastKey(path);
        if (message.Contains("could not be mapped to any .NET member", StringComparison.Ordinal))
        {
            return $"unknown key '{key}'";
        }

        if (MissingRequired().Match(message) is { Success: true } missing)
        {
            return $"'{missing.Groups[1].Value}' is missing";
        }

        if (message.Contains("could not be converted to", StringComparison.Ordinal) || message.Contains("null value", StringComparison.OrdinalIgnoreCase))
        {
            return $"'{key}' must be {Expected(key)}";
        }

        return message;
    }

    private static string Expected(string key) => key switch
    {
        "nodes" => "an array of node objects",
        "argv" or "outputs" => "an array of strings",
        "inputs" => "an array of inputs (strings or {\"from\", \"output\", \"path\"} objects)",
        "env" or "platform" => "an object of string values",
        "input_sets" => "an object whose values are arrays of paths",
        "timeout_s" => "a number of seconds",
        "do_not_cache" => "true or false",
        "$" => "a graph object",
        _ => "a string",
    };

    private static string LastKey(string path)
    {
        var end = path.Length;
        while (end > 0 && path[end - 1] == ']')
        {
            end = path.LastIndexOf('[', end - 1);
        }

        var dot = path.LastIndexOf('.', Math.Max(end - 1, 0));
        return dot < 0 ? path[..end] : path[(dot + 1)..end].Trim('\'', '[', ']');
    }

    private static string StripPosition(string message)
    {
        var at = message.IndexOf(" Path: ", StringComparison.Ordinal);
        if (at < 0)
        {
            at = message.IndexOf(" LineNumber: ", StringComparison.Ordinal);
        }

        return (at < 0 ? message : message[..at]).TrimEnd('.', ' ');
    }

    private static string? NodeId(byte[] content, int index)
    {
        try
        {
            using var document = JsonDocument.Parse(content, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            return document.RootElement.TryGetProperty("nodes", out var nodes)
                && nodes.ValueKind == JsonValueKind.Array
                && index < nodes.GetArrayLength()
                && nodes[index].ValueKind == JsonValueKind.Object
                && nodes[index].TryGetProperty("id", out var id)
                && id.ValueKind == JsonValueKind.String
                ? id.GetString()
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    [GeneratedRegex(@"^\$\.nodes\[(\d+)\]")]
    private static partial Regex NodeIndex();

    [GeneratedRegex(@"missing required properties including: '([^']+)'")]
    private static partial Regex MissingRequired();
}
