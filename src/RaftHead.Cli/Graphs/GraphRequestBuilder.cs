using System.Globalization;
using Build.Bazel.Remote.Execution.V2;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using RaftHead.Protocol;
using RaftHead.Protocol.V1;

namespace RaftHead.Cli.Graphs;

/// <summary>A resolved graph file as the SubmitGraphRequest it stands for, with the blobs its input trees need.</summary>
internal static class GraphRequestBuilder
{
    /// <summary>Characters of the SHA-256 a default graph id keeps: 128 bits, short enough to read in a terminal.</summary>
    private const int DefaultIdHexLength = 32;

    public static async Task<(SubmitGraphRequest Request, IReadOnlyDictionary<Digest, BlobSource> Blobs)> BuildAsync(
        ResolvedGraph graph, string? graphIdOverride, CancellationToken cancellationToken)
    {
        var trees = new InputTreeBuilder(graph.BaseDirectory);
        var request = new SubmitGraphRequest { InstanceName = graph.File.InstanceName ?? "" };
        foreach (var resolved in graph.Nodes)
        {
            var node = resolved.Node;
            var message = new GraphNode { Id = node.Id, WorkingDirectory = node.Workdir ?? "", DoNotCache = node.DoNotCache ?? false };
            message.Arguments.AddRange(node.Argv);
            // REAPI asks for environment variables and platform properties sorted by name.
            foreach (var (name, value) in (node.Env ?? []).OrderBy(e => e.Key, StringComparer.Ordinal))
            {
                message.EnvironmentVariables.Add(new Command.Types.EnvironmentVariable { Name = name, Value = value });
            }

            message.OutputPaths.AddRange(node.Outputs ?? []);
            if (resolved.LocalInputs.Count > 0)
            {
                message.InputRootDigest = await trees.BuildAsync(resolved.LocalInputs, node.Id, cancellationToken).ConfigureAwait(false);
            }

            message.Inputs.AddRange(resolved.References);
            if (node.Platform is { Count: > 0 } platform)
            {
                message.Platform = new Platform();
                foreach (var (name, value) in platform.OrderBy(p => p.Key, StringComparer.Ordinal))
                {
                    message.Platform.Properties.Add(new Platform.Types.Property { Name = name, Value = value });
                }
            }

            if (node.TimeoutS is > 0 and var seconds)
            {
                message.Timeout = Duration.FromTimeSpan(TimeSpan.FromSeconds(seconds));
            }

            request.Nodes.Add(message);
        }

        request.GraphId = graphIdOverride ?? graph.File.GraphId ?? DefaultGraphId(request);
        if (request.GraphId.Length is 0 or > GraphFileLoader.GraphIdLengthMax)
        {
            throw new GraphFileException($"{graph.FileName}: a graph id must be 1..{GraphFileLoader.GraphIdLengthMax} characters, got {request.GraphId.Length.ToString(CultureInfo.InvariantCulture)}");
        }

        return (request, trees.Blobs);
    }

    /// <summary>
    /// The hash of everything the graph says (commands, references, and its local inputs through their trees' digests),
    /// so an unchanged build resubmitted is the same graph and a changed one is a new graph.
    /// </summary>
    public static string DefaultGraphId(SubmitGraphRequest request)
    {
        var unnamed = request.Clone();
        unnamed.GraphId = "";
        unnamed.ToolInvocationId = "";
        return Digests.Compute(unnamed.ToByteArray()).Hash[..DefaultIdHexLength];
    }
}
