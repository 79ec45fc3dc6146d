using System.CommandLine;

namespace RaftHead.Cli;

/// <summary>Options every command understands.</summary>
internal static class CliOptions
{
    public const string DefaultEndpoint = "127.0.0.1:8980";

    public static readonly Option<bool> Json = new("--json")
    {
        Description = "Print machine-readable JSON instead of text.",
        Recursive = true,
    };

    public static readonly Option<string?> Endpoint = new("--endpoint")
    {
        Description = $"The head to talk to (any replica will do). Default: $RH_ENDPOINT, else {DefaultEndpoint}.",
        Recursive = true,
    };

    public static string ResolveEndpoint(ParseResult result)
    {
        if (result.GetValue(Endpoint) is { Length: > 0 } given)
        {
            return given;
        }

        return Environment.GetEnvironmentVariable("RH_ENDPOINT") is { Length: > 0 } fromEnvironment ? fromEnvironment : DefaultEndpoint;
    }
}
