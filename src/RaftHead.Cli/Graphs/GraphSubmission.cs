using System.Globalization;
using Google.Protobuf;
using Grpc.Core;
using RaftHead.Protocol.Client;
using RaftHead.Protocol.V1;
using RaftHead.Storage.Remote;
using Spectre.Console;
using GraphsClient = RaftHead.Protocol.V1.Graphs.GraphsClient;

namespace RaftHead.Cli.Graphs;

/// <param name="GraphPath">The graph file.</param>
/// <param name="Endpoints">Heads to talk to, in order of preference; any replica will do.</param>
/// <param name="Watch">Follow the graph to its end.</param>
/// <param name="GraphId">Overrides the file's graph id.</param>
/// <param name="Json">Print the final GraphStatus as JSON, nothing else on stdout.</param>
/// <param name="Live">Show a live progress display (stdout is a terminal) rather than a line per change.</param>
internal sealed record SubmitSettings(string GraphPath, IReadOnlyList<string> Endpoints, bool Watch, string? GraphId, bool Json, bool Live);

/// <summary><c>rh submit</c>: upload a graph's local inputs, submit it, and (watching) follow it to its end.</summary>
internal static class GraphSubmission
{
    private const int CallTimeoutMs = 60_000;

    /// <returns>0, or <see cref="CliFailure.ExitFailure"/> when a watched graph has a failed or cancelled node.</returns>
    public static async Task<int> RunAsync(SubmitSettings settings, TextWriter output, TextWriter error, HeadConnectionOptions? connection, CancellationToken cancellationToken)
    {
        var graph = await GraphFileLoader.LoadAsync(settings.GraphPath, cancellationToken).ConfigureAwait(false);
        var (request, blobs) = await GraphRequestBuilder.BuildAsync(graph, settings.GraphId, cancellationToken).ConfigureAwait(false);

        using var channels = new GrpcChannels(HeadConnection.ChannelSettings);
        var heads = new HeadConnection(settings.Endpoints, channels, connection);
        var upload = await new CasUploader(heads, request.InstanceName).UploadAsync(blobs, cancellationToken).ConfigureAwait(false);
        var submitted = await heads.CallAsync(
            (invoker, token) => new GraphsClient(invoker).SubmitGraphAsync(request, Options(token)).ResponseAsync,
            cancellationToken).ConfigureAwait(false);
        var status = submitted.Status ?? new GraphStatus { GraphId = request.GraphId };
        if (!settings.Json)
        {
            var what = submitted.Duplicate ? "already submitted" : "submitted";
            await output.WriteLineAsync(string.Create(
                CultureInfo.InvariantCulture,
                $"graph {request.GraphId} {what}: {request.Nodes.Count} nodes; uploaded {upload.Missing} of {upload.Blobs} blobs ({Humanize.Bytes(upload.BytesSent)})")).ConfigureAwait(false);
        }

        if (!settings.Watch)
        {
            if (settings.Json)
            {
                await output.WriteLineAsync(JsonFormatter.Default.Format(status)).ConfigureAwait(false);
            }

            return 0;
        }

        var watcher = new GraphWatcher(heads);
        Task Watch(Action<GraphEvent> onEvent, Action<long> onResume) => watcher.WatchAsync(request.GraphId, onEvent, onResume, cancellationToken);
        if (settings.Json)
        {
            await Watch(_ => { }, _ => { }).ConfigureAwait(false);
        }
        else
        {
            IGraphProgress progress = settings.Live
                ? new LiveGraphProgress(AnsiConsole.Console, TimeProvider.System)
                : new PlainGraphProgress(output, error);
            await progress.RunAsync(request.Nodes.Count, Watch).ConfigureAwait(false);
        }

        var final = await heads.CallAsync(
            (invoker, token) => new GraphsClient(invoker).GetGraphAsync(new GetGraphRequest { GraphId = request.GraphId }, Options(token)).ResponseAsync,
            cancellationToken).ConfigureAwait(false);
        if (settings.Json)
        {
            await output.WriteLineAsync(JsonFormatter.Default.Format(final)).ConfigureAwait(false);
        }
        else
        {
            var console = settings.Live ? AnsiConsole.Console : Plain(output);
            GraphReport.Summary(console, settings.Live ? HumanOutput.ForStdout() : HumanOutput.Plain, final);
        }

        var counts = final.Counts ?? new GraphCounts();
        if (counts.Failed == 0 && counts.Cancelled == 0)
        {
            return 0;
        }

        await GraphReport.FailuresAsync(error, final, new RemoteBlobStore(heads), cancellationToken).ConfigureAwait(false);
        return CliFailure.ExitFailure;
    }

    /// <summary>A console without colours or cursor movement writing to <paramref name="writer"/>: for pipes and logs.</summary>
    public static IAnsiConsole Plain(TextWriter writer) => AnsiConsole.Create(new AnsiConsoleSettings
    {
        Ansi = AnsiSupport.No,
        ColorSystem = ColorSystemSupport.NoColors,
        Interactive = InteractionSupport.No,
        Out = new AnsiConsoleOutput(writer),
    });

    private static CallOptions Options(CancellationToken cancellationToken) =>
        new(deadline: DateTime.UtcNow.AddMilliseconds(CallTimeoutMs), cancellationToken: cancellationToken);
}
