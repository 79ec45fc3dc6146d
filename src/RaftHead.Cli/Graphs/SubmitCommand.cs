using System.CommandLine;
using RaftHead.Protocol.Client;
using Command = System.CommandLine.Command;

namespace RaftHead.Cli.Graphs;

/// <summary><c>rh submit graph.json [--watch] [--graph-id ID]</c>.</summary>
internal static class SubmitCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("graph-file") { Description = "The graph file (JSON; see graph.schema.json)." };
        var watch = new Option<bool>("--watch") { Description = "Follow the graph to its end: live progress, a summary, and a non-zero exit code if a node failed." };
        var graphId = new Option<string?>("--graph-id") { Description = "The graph's id (default: the file's graph_id, else a hash of the graph and its inputs)." };
        var submit = new Command("submit", "Upload a graph file's local inputs and submit it as one action graph.");
        submit.Arguments.Add(file);
        submit.Options.Add(watch);
        submit.Options.Add(graphId);
        submit.SetAction((result, cancellationToken) => CliFailure.RunAsync(result, async () =>
        {
            var json = result.GetValue(CliOptions.Json);
            var endpoints = Endpoints(CliOptions.ResolveEndpoint(result));
            var settings = new SubmitSettings(result.GetValue(file)!, endpoints, result.GetValue(watch), result.GetValue(graphId), json, Live: !json && !Console.IsOutputRedirected);
            try
            {
                return await GraphSubmission.RunAsync(settings, Console.Out, Console.Error, connection: null, cancellationToken).ConfigureAwait(false);
            }
            catch (GraphFileException e)
            {
                throw new UsageException(e.Message);
            }
        }));
        return submit;
    }

    /// <summary>One head or several, comma-separated: a watch that loses its head resumes on the next.</summary>
    public static IReadOnlyList<string> Endpoints(string text)
    {
        var endpoints = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var endpoint in endpoints)
        {
            try
            {
                GrpcChannels.ParseEndpoint(endpoint);
            }
            catch (FormatException e)
            {
                throw new UsageException(e.Message);
            }
        }

        return endpoints.Length > 0 ? endpoints : throw new UsageException("no endpoint given");
    }
}
