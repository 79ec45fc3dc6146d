using System.Globalization;
using Build.Bazel.Remote.Execution.V2;
using Google.Protobuf;
using RaftHead.Bench.Execution;
using RaftHead.Bench.Storage;
using RaftHead.Protocol.Client;
using ReapiAction = Build.Bazel.Remote.Execution.V2.Action;
using ReapiDirectory = Build.Bazel.Remote.Execution.V2.Directory;

namespace RaftHead.Bench.Stragglers;

/// <summary>
/// The scenario's actions: one shell Command for all (so they share one class, its digest), which sleeps
/// <see cref="StragglerOptions.RunMs"/> or, when its working directory lies under a directory named <c>slow</c>,
/// <see cref="StragglerOptions.SlowFactor"/> times as long, then copies its input to its output. Each action has its
/// own input file, so no two action digests are equal: nothing is served from the action cache or merged into one
/// operation.
/// </summary>
internal static class StragglerActions
{
    public const string SlowWorkerName = "slow";

    private const int PerBatch = 300;

    public static Command Command(StragglerOptions options)
    {
        var fast = (options.RunMs / 1000.0).ToString("0.###", CultureInfo.InvariantCulture);
        var slow = (options.RunMs * (double)options.SlowFactor / 1000.0).ToString("0.###", CultureInfo.InvariantCulture);
        var script = $"case \"$PWD\" in */{SlowWorkerName}/*) sleep {slow};; *) sleep {fast};; esac; cat n > out.txt";
        var command = new Command { Arguments = { "/bin/sh", "-c", script }, OutputPaths = { "out.txt" } };
        command.EnvironmentVariables.Add(new Command.Types.EnvironmentVariable { Name = "PATH", Value = "/usr/bin:/bin" });
        return command;
    }

    /// <summary>Uploads <paramref name="count"/> actions (input text <c>{label}-{i}</c>) and their Command; returns their digests.</summary>
    public static async Task<Digest[]> UploadAsync(ReapiClients clients, StragglerOptions options, string label, int count, CancellationToken cancellationToken)
    {
        var command = Command(options).ToByteString();
        var commandDigest = BlobSet.DigestOf(command.ToByteArray());
        var blobs = new List<(Digest Digest, ByteString Data)>(1 + (3 * count)) { (commandDigest, command) };
        var actions = new Digest[count];
        for (var i = 0; i < count; i++)
        {
            var input = ByteString.CopyFromUtf8(string.Create(CultureInfo.InvariantCulture, $"{label}-{i}\n"));
            var inputDigest = BlobSet.DigestOf(input.ToByteArray());
            var root = new ReapiDirectory { Files = { new FileNode { Name = "n", Digest = inputDigest } } }.ToByteString();
            var rootDigest = BlobSet.DigestOf(root.ToByteArray());
            var action = new ReapiAction
            {
                CommandDigest = commandDigest,
                InputRootDigest = rootDigest,
                Timeout = Google.Protobuf.WellKnownTypes.Duration.FromTimeSpan(TimeSpan.FromSeconds(60)),
            }.ToByteString();
            actions[i] = BlobSet.DigestOf(action.ToByteArray());
            blobs.Add((inputDigest, input));
            blobs.Add((rootDigest, root));
            blobs.Add((actions[i], action));
        }

        foreach (var batch in blobs.Chunk(PerBatch))
        {
            var request = new BatchUpdateBlobsRequest { InstanceName = ExecutePhase.Instance };
            foreach (var (digest, data) in batch)
            {
                request.Requests.Add(new BatchUpdateBlobsRequest.Types.Request { Digest = digest, Data = data });
            }

            var response = await clients.Cas.BatchUpdateBlobsAsync(request, deadline: DateTime.UtcNow.AddSeconds(options.CallSeconds), cancellationToken: cancellationToken).ConfigureAwait(false);
            foreach (var answer in response.Responses)
            {
                if (answer.Status.Code != 0)
                {
                    throw new InvalidOperationException("Benchmark self-check failed: BatchUpdateBlobs refused a blob: " + answer.Status.Message);
                }
            }
        }

        return actions;
    }
}
