using System.Globalization;
using System.Runtime.InteropServices;
using Build.Bazel.Remote.Execution.V2;
using Google.Protobuf;
using RaftHead.Head.Reapi;
using RaftHead.Storage;
using RaftHead.Storage.Merkle;
using ReapiAction = Build.Bazel.Remote.Execution.V2.Action;
using ReapiDirectory = Build.Bazel.Remote.Execution.V2.Directory;

namespace RaftHead.Head.Execution;

/// <summary>
/// Reads an action's messages from the CAS and checks that everything it needs is there before it is queued. The walk of
/// the input root (<see cref="MerkleWalker"/>) carries on past an absent directory and collects every absent blob, so one
/// FAILED_PRECONDITION tells the client all it must upload.
/// </summary>
internal sealed class ActionInputs
{
    private const string InputRootField = "action.input_root_digest";

    private readonly IBlobStore _store;
    private readonly ExecutionOptions _options;
    private readonly MerkleWalker _walker;

    public ActionInputs(IBlobStore store, ExecutionOptions options)
    {
        _store = store;
        _options = options;
        _walker = new MerkleWalker(store, new MerkleWalkOptions
        {
            ConcurrencyMax = options.InputWalkConcurrencyMax,
            DirectoryMaxBytes = options.MessageBlobMaxBytes,
            DirectoriesMax = options.InputDirectoriesMax,
            Visit = MerkleVisitMode.EachDigestOnce,
            Missing = MissingDirectoryMode.Collect,
            ProbeLevels = true,
        });
    }

    /// <summary>The Action, or FAILED_PRECONDITION (MISSING) if absent, INVALID_ARGUMENT if it is not a valid Action.</summary>
    public async ValueTask<ReapiAction> FetchActionAsync(string instanceName, Digest actionDigest, CancellationToken cancellationToken)
    {
        var action = await ReadMessageAsync(instanceName, actionDigest, ReapiAction.Parser, "action_digest", cancellationToken).ConfigureAwait(false)
            ?? throw ExecutionErrors.MissingBlobs(new[] { (actionDigest, "the Action") }, _options.MissingBlobsListedMax);
        ReapiErrors.CheckDigest(action.CommandDigest, "action.command_digest");
        ReapiErrors.CheckDigest(action.InputRootDigest, InputRootField);
        if (action.Timeout is { } timeout && (timeout.Seconds < 0 || timeout.Nanos < 0))
        {
            throw ReapiErrors.InvalidArgument("action.timeout", "must not be negative");
        }

        return action;
    }

    /// <summary>
    /// The Command, once the Command and every directory and file of the input root are known to be present;
    /// otherwise FAILED_PRECONDITION listing each absent blob.
    /// </summary>
    /// <param name="pins">Receives a pin on every input blob, taken before its presence is checked, so nothing the
    /// action needs is evicted while it waits and runs. The caller owns and releases them.</param>
    /// <param name="largestFiles">Receives the largest input files worth placing the action near (locality hints):
    /// at most <see cref="ExecutionOptions.LocalityHintsMax"/>, each at least <see cref="ExecutionOptions.LocalityHintMinBytes"/>,
    /// largest first.</param>
    public async ValueTask<Command> FetchCommandCheckingInputsAsync(string instanceName, ReapiAction action, List<IDisposable> pins, List<Digest> largestFiles, CancellationToken cancellationToken)
    {
        var missing = new List<(Digest, string)>();
        var command = await ReadMessageAsync(instanceName, action.CommandDigest, Command.Parser, "action.command_digest", cancellationToken).ConfigureAwait(false);
        if (command is null)
        {
            missing.Add((action.CommandDigest, "the Command"));
        }

        await CollectMissingInputsAsync(instanceName, action.InputRootDigest, missing, pins, largestFiles, cancellationToken).ConfigureAwait(false);
        if (missing.Count > 0)
        {
            throw ExecutionErrors.MissingBlobs(missing, _options.MissingBlobsListedMax);
        }

        return command!;
    }

    private async ValueTask CollectMissingInputsAsync(string instanceName, Digest root, List<(Digest, string)> missing, List<IDisposable> pins, List<Digest> largestFiles, CancellationToken cancellationToken)
    {
        var inputRoot = new InputRootVisitor(this, instanceName, missing, pins, largestFiles);
        try
        {
            await _walker.WalkAsync(instanceName, root, inputRoot, cancellationToken).ConfigureAwait(false);
        }
        catch (InvalidDirectoryException e)
        {
            throw ReapiErrors.InvalidArgument(InputRootField, Describe(e));
        }
        catch (MerkleLimitException e) when (e.Limit == MerkleLimit.Directories)
        {
            throw ReapiErrors.InvalidArgument(
                InputRootField, string.Create(CultureInfo.InvariantCulture, $"the input root holds more than {_options.InputDirectoriesMax} directories"));
        }

        var absent = new List<Digest>();
        Pin(instanceName, CollectionsMarshal.AsSpan(inputRoot.Files), pins);
        await _store.FindMissingAsync(instanceName, inputRoot.Files, absent, cancellationToken).ConfigureAwait(false);
        foreach (var digest in absent)
        {
            missing.Add((digest, "an input file"));
        }
    }

    private string Describe(InvalidDirectoryException e) => e.Kind switch
    {
        InvalidDirectoryKind.TooLarge => string.Create(
            CultureInfo.InvariantCulture, $"blob {e.Digest.Hash}/{e.Digest.SizeBytes} is larger than the {_options.MessageBlobMaxBytes}-byte limit for a Directory"),
        InvalidDirectoryKind.Unparsable => $"blob {e.Digest.Hash}/{e.Digest.SizeBytes} does not parse as a Directory: {e.InnerException?.Message}",
        _ => $"directory {e.Digest.Hash}/{e.Digest.SizeBytes} in the input root is invalid: {e.Reason}",
    };

    /// <summary>Keeps <paramref name="largest"/> the biggest files seen so far, largest first, ties in walk order.</summary>
    private void KeepIfLargest(List<Digest> largest, Digest file)
    {
        if (file.SizeBytes < _options.LocalityHintMinBytes || _options.LocalityHintsMax == 0)
        {
            return;
        }

        if (largest.Count == _options.LocalityHintsMax)
        {
            if (file.SizeBytes <= largest[^1].SizeBytes)
            {
                return;
            }

            largest.RemoveAt(largest.Count - 1);
        }

        var at = largest.Count;
        while (at > 0 && largest[at - 1].SizeBytes < file.SizeBytes)
        {
            at--;
        }

        largest.Insert(at, file);
    }

    private void Pin(string instanceName, ReadOnlySpan<Digest> digests, List<IDisposable> pins)
    {
        foreach (var digest in digests)
        {
            pins.Add(_store.Pin(instanceName, digest));
        }
    }

    private async ValueTask<T?> ReadMessageAsync<T>(string instanceName, Digest digest, MessageParser<T> parser, string field, CancellationToken cancellationToken)
        where T : class, IMessage<T>
    {
        if (digest.SizeBytes > _options.MessageBlobMaxBytes)
        {
            throw ReapiErrors.InvalidArgument(field, string.Create(CultureInfo.InvariantCulture, $"blob {digest.Hash}/{digest.SizeBytes} is larger than the {_options.MessageBlobMaxBytes}-byte limit for a {typeof(T).Name}"));
        }

        var bytes = await _store.ReadAllAsync(instanceName, digest, cancellationToken).ConfigureAwait(false);
        if (bytes is null)
        {
            return null;
        }

        try
        {
            return parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw ReapiErrors.InvalidArgument(field, $"blob {digest.Hash}/{digest.SizeBytes} does not parse as a {typeof(T).Name}: {e.Message}");
        }
    }

    /// <summary>Pins each level of the input root before it is probed, and gathers its distinct files and locality hints.</summary>
    private sealed class InputRootVisitor(ActionInputs inputs, string instanceName, List<(Digest, string)> missing, List<IDisposable> pins, List<Digest> largestFiles)
        : IMerkleVisitor
    {
        private readonly HashSet<(string, long)> _seenFiles = [];

        public List<Digest> Files { get; } = [];

        public void OnLevel(ReadOnlySpan<Digest> directories) => inputs.Pin(instanceName, directories, pins);

        public bool OnDirectory(Digest digest, ReapiDirectory directory, string? path)
        {
            foreach (var file in directory.Files)
            {
                if (_seenFiles.Add((file.Digest.Hash, file.Digest.SizeBytes)))
                {
                    Files.Add(file.Digest);
                    inputs.KeepIfLargest(largestFiles, file.Digest);
                }
            }

            return true;
        }

        public void OnMissing(Digest digest, string? path) => missing.Add((digest, "an input directory"));
    }
}
