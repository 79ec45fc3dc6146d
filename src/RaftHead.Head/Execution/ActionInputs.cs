using System.Globalization;
using Build.Bazel.Remote.Execution.V2;
using Google.Protobuf;
using RaftHead.Head.Reapi;
using RaftHead.Storage;
using RaftHead.Storage.Merkle;
using ReapiAction = Build.Bazel.Remote.Execution.V2.Action;
using ReapiDirectory = Build.Bazel.Remote.Execution.V2.Directory;

namespace RaftHead.Head.Execution;

/// <summary>
/// Reads an action's messages from the CAS and checks that everything it needs is there before it is queued. Unlike
/// <see cref="TreeWalker"/>, which stops at the first absent directory, this walk carries on and collects every absent
/// blob, so one FAILED_PRECONDITION tells the client all it must upload.
/// </summary>
internal sealed class ActionInputs
{
    private readonly IBlobStore _store;
    private readonly ExecutionOptions _options;

    public ActionInputs(IBlobStore store, ExecutionOptions options)
    {
        _store = store;
        _options = options;
    }

    /// <summary>The Action, or FAILED_PRECONDITION (MISSING) if absent, INVALID_ARGUMENT if it is not a valid Action.</summary>
    public async ValueTask<ReapiAction> FetchActionAsync(string instanceName, Digest actionDigest, CancellationToken cancellationToken)
    {
        var action = await ReadMessageAsync(instanceName, actionDigest, ReapiAction.Parser, "action_digest", cancellationToken).ConfigureAwait(false)
            ?? throw ExecutionErrors.MissingBlobs(new[] { (actionDigest, "the Action") }, _options.MissingBlobsListedMax);
        ReapiErrors.CheckDigest(action.CommandDigest, "action.command_digest");
        ReapiErrors.CheckDigest(action.InputRootDigest, "action.input_root_digest");
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
        var seenDirectories = new HashSet<(string, long)> { (root.Hash, root.SizeBytes) };
        var seenFiles = new HashSet<(string, long)>();
        var files = new List<Digest>();
        var level = new List<Digest> { root };
        var next = new List<Digest>();
        var absent = new List<Digest>();
        var concurrency = _options.InputWalkConcurrencyMax;
        var reads = new Task<ReapiDirectory?>[concurrency];
        while (level.Count > 0)
        {
            // One index probe for the whole level first: absent directories are listed without a read attempt.
            absent.Clear();
            Pin(instanceName, level, pins);
            await _store.FindMissingAsync(instanceName, level, absent, cancellationToken).ConfigureAwait(false);
            var absentSet = absent.Select(d => (d.Hash, d.SizeBytes)).ToHashSet();
            var present = new List<Digest>(level.Count);
            foreach (var digest in level)
            {
                if (absentSet.Contains((digest.Hash, digest.SizeBytes)))
                {
                    missing.Add((digest, "an input directory"));
                }
                else
                {
                    present.Add(digest);
                }
            }

            for (var start = 0; start < present.Count; start += concurrency)
            {
                var chunk = Math.Min(concurrency, present.Count - start);
                for (var i = 0; i < chunk; i++)
                {
                    reads[i] = ReadDirectoryAsync(instanceName, present[start + i], cancellationToken);
                }

                await Task.WhenAll(reads.AsSpan(0, chunk)).ConfigureAwait(false);
                for (var i = 0; i < chunk; i++)
                {
                    var directory = await reads[i].ConfigureAwait(false);
                    if (directory is null)
                    {
                        // Evicted between the probe and the read.
                        missing.Add((present[start + i], "an input directory"));
                        continue;
                    }

                    foreach (var file in directory.Files)
                    {
                        if (seenFiles.Add((file.Digest.Hash, file.Digest.SizeBytes)))
                        {
                            files.Add(file.Digest);
                            KeepIfLargest(largestFiles, file.Digest);
                        }
                    }

                    foreach (var child in directory.Directories)
                    {
                        if (seenDirectories.Add((child.Digest.Hash, child.Digest.SizeBytes)))
                        {
                            if (seenDirectories.Count > _options.InputDirectoriesMax)
                            {
                                throw ReapiErrors.InvalidArgument(
                                    "action.input_root_digest",
                                    string.Create(CultureInfo.InvariantCulture, $"the input root holds more than {_options.InputDirectoriesMax} directories"));
                            }

                            next.Add(child.Digest);
                        }
                    }
                }
            }

            (level, next) = (next, level);
            next.Clear();
        }

        absent.Clear();
        Pin(instanceName, files, pins);
        await _store.FindMissingAsync(instanceName, files, absent, cancellationToken).ConfigureAwait(false);
        foreach (var digest in absent)
        {
            missing.Add((digest, "an input file"));
        }
    }

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

    private void Pin(string instanceName, List<Digest> digests, List<IDisposable> pins)
    {
        foreach (var digest in digests)
        {
            pins.Add(_store.Pin(instanceName, digest));
        }
    }

    private async Task<ReapiDirectory?> ReadDirectoryAsync(string instanceName, Digest digest, CancellationToken cancellationToken)
    {
        var directory = await ReadMessageAsync(instanceName, digest, ReapiDirectory.Parser, "action.input_root_digest", cancellationToken).ConfigureAwait(false);
        if (directory is not null && DirectoryValidator.Validate(directory) is { } problem)
        {
            throw ReapiErrors.InvalidArgument("action.input_root_digest", $"directory {digest.Hash}/{digest.SizeBytes} in the input root is invalid: {problem}");
        }

        return directory;
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
}
