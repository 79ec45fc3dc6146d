using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Command = System.CommandLine.Command;

namespace RaftHead.Cli.Graphs;

/// <summary><c>rh graph from-make</c> (a C project's build as a graph file) and <c>rh graph schema</c>.</summary>
internal static class GraphCommand
{
    /// <summary>How long <c>make -n</c> may take: it only prints.</summary>
    private const int MakeTimeoutMs = 120_000;

    /// <summary>Lines not understood listed one by one; beyond, only counted.</summary>
    private const int NotUnderstoodShownMax = 20;

    public static Command Create()
    {
        var graph = new Command("graph", "Action graph files: make one from a C project's build, or print their JSON Schema.");

        var directory = new Option<string>("--dir") { Description = "The project (where make runs). Default: the current directory.", DefaultValueFactory = _ => "." };
        var makeOutput = new Option<string?>("--make-output") { Description = "Read this `make -n` output instead of running `make -n -B -w` in --dir." };
        var compileCommands = new Option<string?>("--compile-commands") { Description = "Read the compile steps of this compile_commands.json." };
        var output = new Option<string?>("--output", "-o") { Description = "Write the graph file here (its paths are relative to it). Default: stdout, with paths relative to --dir." };
        var makeArguments = new Argument<string[]>("make-arguments") { Description = "Passed to make, e.g. MALLOC=libc or a target.", Arity = ArgumentArity.ZeroOrMore };
        var fromMake = new Command("from-make", "A C project's compile, archive and link steps as a graph file.");
        fromMake.Arguments.Add(makeArguments);
        fromMake.Options.Add(directory);
        fromMake.Options.Add(makeOutput);
        fromMake.Options.Add(compileCommands);
        fromMake.Options.Add(output);
        fromMake.Validators.Add(result =>
        {
            if (result.GetValue(makeOutput) is not null && result.GetValue(compileCommands) is not null)
            {
                result.AddError("--make-output and --compile-commands are two sources of steps: give one.");
            }
        });
        fromMake.SetAction((result, cancellationToken) => CliFailure.RunAsync(result, async () =>
        {
            try
            {
                return await FromMakeAsync(
                    result.GetValue(directory)!, result.GetValue(makeOutput), result.GetValue(compileCommands), result.GetValue(output), result.GetValue(makeArguments) ?? [], Console.Out, Console.Error, cancellationToken).ConfigureAwait(false);
            }
            catch (GraphFileException e)
            {
                throw new UsageException(e.Message);
            }
        }));
        graph.Subcommands.Add(fromMake);

        var schema = new Command("schema", "Print the graph file's JSON Schema.");
        schema.SetAction(_ =>
        {
            Console.Out.Write(GraphFileJson.Schema());
            return 0;
        });
        graph.Subcommands.Add(schema);
        return graph;
    }

    public static async Task<int> FromMakeAsync(string directory, string? makeOutput, string? compileCommands, string? output, IReadOnlyList<string> makeArguments, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        var project = Path.GetFullPath(directory);
        if (!Directory.Exists(project))
        {
            throw new UsageException($"--dir {directory}: no such directory");
        }

        var baseDirectory = output is null ? project : Path.GetDirectoryName(Path.GetFullPath(output))!;
        var converter = new MakeGraphConverter(baseDirectory, project);
        if (compileCommands is not null)
        {
            JsonDocument document;
            try
            {
                document = JsonDocument.Parse(await ReadAsync(compileCommands, cancellationToken).ConfigureAwait(false));
            }
            catch (JsonException e)
            {
                throw new UsageException($"{compileCommands}:{(e.LineNumber ?? 0) + 1}: not JSON: {e.Message}");
            }

            using (document)
            {
                converter.AddCompileCommands(document);
            }
        }
        else
        {
            var lines = makeOutput is not null
                ? (await ReadAsync(makeOutput, cancellationToken).ConfigureAwait(false)).ReplaceLineEndings("\n").Split('\n')
                : await RunMakeAsync(project, makeArguments, cancellationToken).ConfigureAwait(false);
            converter.AddMakeOutput(lines);
        }

        var graph = converter.ToGraph();
        if (graph.Nodes.Count == 0)
        {
            await ReportAsync(converter, stderr).ConfigureAwait(false);
            throw new UsageException("no compile, archive or link step found");
        }

        var json = GraphFileJson.Serialize(graph);
        if (output is null)
        {
            await stdout.WriteAsync(json).ConfigureAwait(false);
        }
        else
        {
            await File.WriteAllTextAsync(output, json, cancellationToken).ConfigureAwait(false);
        }

        await stderr.WriteLineAsync(string.Create(
            CultureInfo.InvariantCulture,
            $"rh: {graph.Nodes.Count} nodes: {converter.Compiles} compiles, {converter.Archives} archives, {converter.Links} links, {converter.Copies} copies{(output is null ? "" : $"; wrote {output}")}")).ConfigureAwait(false);
        await ReportAsync(converter, stderr).ConfigureAwait(false);
        return 0;
    }

    private static async Task ReportAsync(MakeGraphConverter converter, TextWriter stderr)
    {
        if (converter.Ignored.Count > 0)
        {
            var skipped = string.Join(", ", converter.Ignored.Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Key} {p.Value}")));
            await stderr.WriteLineAsync($"rh: skipped {converter.Ignored.Values.Sum()} lines that are not build steps: {skipped}").ConfigureAwait(false);
        }

        var unknown = converter.NotUnderstood;
        if (unknown.Count == 0)
        {
            return;
        }

        await stderr.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"rh: {unknown.Count} lines not understood (left out of the graph):")).ConfigureAwait(false);
        foreach (var line in unknown.Take(NotUnderstoodShownMax))
        {
            await stderr.WriteLineAsync("  " + line).ConfigureAwait(false);
        }

        if (unknown.Count > NotUnderstoodShownMax)
        {
            await stderr.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"  ... and {unknown.Count - NotUnderstoodShownMax} more")).ConfigureAwait(false);
        }
    }

    private static async Task<string> ReadAsync(string path, CancellationToken cancellationToken)
    {
        try
        {
            return await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"cannot read {path}: {e.Message}");
        }
    }

    /// <summary>What make would run to build everything from scratch, with its directory changes shown.</summary>
    private static async Task<string[]> RunMakeAsync(string project, IReadOnlyList<string> makeArguments, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo("make") { WorkingDirectory = project, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in (string[])["-n", "-B", "-w", .. makeArguments])
        {
            start.ArgumentList.Add(argument);
        }

        // make's "Entering directory" lines are read in English.
        start.Environment["LC_ALL"] = "C";
        using var process = Process.Start(start) ?? throw new UsageException("cannot start make");
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(MakeTimeoutMs);
        try
        {
            await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new UsageException($"make -n in {project} did not finish within {MakeTimeoutMs / 1000} s");
        }

        if (process.ExitCode != 0)
        {
            throw new UsageException($"make -n -B in {project} failed (exit code {process.ExitCode}): {(await stderr.ConfigureAwait(false)).Trim()}");
        }

        return (await stdout.ConfigureAwait(false)).ReplaceLineEndings("\n").Split('\n');
    }
}
