using System.Text.Json;
using System.Text.Json.Serialization;

namespace RaftHead.Cli.Graphs;

/// <summary>An input is a string or <c>{"from", "output", "path"}</c>; anything else is an error naming what was found.</summary>
internal sealed class GraphFileInputConverter : JsonConverter<GraphFileInput>
{
    public override GraphFileInput Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.String)
        {
            return new GraphFileInput { Text = reader.GetString() };
        }

        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw new JsonException($"an input is a string or an object {{\"from\", \"output\", \"path\"}}, not {Describe(reader.TokenType)}");
        }

        string? from = null, output = null, path = null;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            var key = reader.GetString();
            reader.Read();
            if (reader.TokenType != JsonTokenType.String)
            {
                throw new JsonException($"input key '{key}' must be a string, not {Describe(reader.TokenType)}");
            }

            switch (key)
            {
                case "from":
                    from = reader.GetString();
                    break;
                case "output":
                    output = reader.GetString();
                    break;
                case "path":
                    path = reader.GetString();
                    break;
                default:
                    throw new JsonException($"unknown key '{key}' in an input object (it has from, output and path)");
            }
        }

        if (from is null || output is null)
        {
            throw new JsonException("an input object needs \"from\" (a node id) and \"output\" (one of that node's outputs)");
        }

        return new GraphFileInput { From = from, Output = output, Path = path };
    }

    public override void Write(Utf8JsonWriter writer, GraphFileInput value, JsonSerializerOptions options)
    {
        if (value.Text is not null)
        {
            writer.WriteStringValue(value.Text);
            return;
        }

        writer.WriteStartObject();
        writer.WriteString("from", value.From);
        writer.WriteString("output", value.Output);
        if (!string.IsNullOrEmpty(value.Path))
        {
            writer.WriteString("path", value.Path);
        }

        writer.WriteEndObject();
    }

    private static string Describe(JsonTokenType token) => token switch
    {
        JsonTokenType.Number => "a number",
        JsonTokenType.True or JsonTokenType.False => "a boolean",
        JsonTokenType.Null => "null",
        JsonTokenType.StartArray => "an array",
        _ => token.ToString(),
    };
}
