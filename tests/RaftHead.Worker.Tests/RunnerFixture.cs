using Build.Bazel.Remote.Execution.V2;
using Google.Protobuf;
using RaftHead.Protocol;
using RaftHead.Protocol.Runner;
using RaftHead.Storage;
using ReapiAction = Build.Bazel.Remote.Execution.V2.Action;

namespace RaftHead.Worker.Tests;

/// <summary>A real store and a real runner in a temp directory, removed afterwards.</summary>
public sealed class RunnerFixture : IAsyncLifetime
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "rh-worker-test-" + Guid.NewGuid().ToString("N"));

    public FasterBlobStore Store { get; private set; } = null!;

    public ActionRunner Runner { get; private set; } = null!;

    public string Root => _root;

    public async Task InitializeAsync()
    {
        System.IO.Directory.CreateDirectory(_root);
        // The sandboxes must be reachable by the unprivileged run-as user.
        File.SetUnixFileMode(_root, (UnixFileMode)0x1ED);
        Store = await FasterBlobStore.OpenAsync(
            new FasterBlobStoreOptions
            {
                DataDirectory = Path.Combine(_root, "cas"),
                SegmentBytes = 1 << 20,
                BufferedBlobMaxBytes = 4096,
                IndexBucketCount = 1L << 12,
                IndexMemorySizeBits = 22,
                IndexPageSizeBits = 16,
                CheckpointIntervalMs = 0,
            },
            CancellationToken.None);
        Runner = new ActionRunner(Store, new RunnerOptions { WorkDirectory = Path.Combine(_root, "work"), WorkerId = "test-worker" });
    }

    public async Task DisposeAsync()
    {
        await Runner.DisposeAsync();
        await Store.DisposeAsync();
        System.IO.Directory.Delete(_root, recursive: true);
    }

    public async Task<ActionRunResult> RunAsync(InputTree inputs, Command command, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var root = await inputs.UploadAsync(Store);
        return await RunAsync(root, command, timeout, cancellationToken);
    }

    public async Task<ActionRunResult> RunAsync(Digest inputRoot, Command command, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var commandBytes = command.ToByteArray();
        var commandDigest = Digests.Compute(commandBytes);
        await Store.PutAsync("", commandDigest, commandBytes, CancellationToken.None);
        var action = new ReapiAction { CommandDigest = commandDigest, InputRootDigest = inputRoot };
        if (timeout is { } t)
        {
            action.Timeout = Google.Protobuf.WellKnownTypes.Duration.FromTimeSpan(t);
        }

        return await Runner.RunAsync(new ActionRunRequest("", Digests.ComputeOf(action), action, command), cancellationToken);
    }

    public async Task<string> ReadTextAsync(Digest digest)
    {
        await using var stream = await Store.OpenReadAsync("", digest, 0, 0, CancellationToken.None)
            ?? throw new InvalidOperationException($"blob {digest.Hash} missing");
        using var reader = new StreamReader(stream);
        return await reader.ReadToEndAsync();
    }

    public async Task<T> ReadMessageAsync<T>(Digest digest, MessageParser<T> parser)
        where T : IMessage<T>
    {
        await using var stream = await Store.OpenReadAsync("", digest, 0, 0, CancellationToken.None)
            ?? throw new InvalidOperationException($"blob {digest.Hash} missing");
        var buffer = new byte[digest.SizeBytes];
        await stream.ReadExactlyAsync(buffer);
        return parser.ParseFrom(buffer);
    }

    public static Command Shell(string script, params string[] outputs)
    {
        var command = new Command { Arguments = { "/bin/sh", "-c", script } };
        command.EnvironmentVariables.Add(new Command.Types.EnvironmentVariable { Name = "PATH", Value = "/usr/bin:/bin" });
        command.OutputPaths.AddRange(outputs);
        return command;
    }
}
