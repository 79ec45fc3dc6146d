using Google.Protobuf;

namespace RaftHead.Cli;

/// <summary>
/// How <c>--json</c> prints a protobuf answer: protobuf's JSON mapping (lowerCamelCase names, 64-bit integers as
/// strings, enums by name), with fields at their default value printed too, so a script finds every field it reads.
/// </summary>
internal static class CliJson
{
    public static readonly JsonFormatter Protobuf = new(JsonFormatter.Settings.Default.WithFormatDefaultValues(true));
}
