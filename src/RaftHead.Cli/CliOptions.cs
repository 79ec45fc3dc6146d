using System.CommandLine;
using Grpc.Core;
using RaftHead.Protocol;
using RaftHead.Protocol.Client;

namespace RaftHead.Cli;

/// <summary>Options every command understands.</summary>
internal static class CliOptions
{
    public static readonly Option<bool> Json = new("--json")
    {
        Description = "Print machine-readable JSON instead of text.",
        Recursive = true,
    };

    public static readonly Option<string?> Endpoint = new("--endpoint")
    {
        Description = $"The head to talk to (any replica will do). Default: $RH_ENDPOINT, else {Defaults.Endpoint}.",
        Recursive = true,
    };

    public static string ResolveEndpoint(ParseResult result)
    {
        if (result.GetValue(Endpoint) is { Length: > 0 } given)
        {
            return given;
        }

        return Environment.GetEnvironmentVariable("RH_ENDPOINT") is { Length: > 0 } fromEnvironment ? fromEnvironment : Defaults.Endpoint;
    }

    /// <summary>The clients of the head this command talks to, over the process's one shared channel to it.</summary>
    public static ReapiClients Clients(ParseResult result)
    {
        var endpoint = ResolveEndpoint(result);
        try
        {
            return new ReapiClients(GrpcChannels.Shared.For(endpoint));
        }
        catch (FormatException e)
        {
            throw new UsageException(e.Message);
        }
    }

    /// <summary>Every call a command makes waits at most this long for its answer.</summary>
    public const int CallTimeoutSeconds = 10;

    public static CallOptions CallOptions(CancellationToken cancellationToken) =>
        new(deadline: DateTime.UtcNow.AddSeconds(CallTimeoutSeconds), cancellationToken: cancellationToken);
}
