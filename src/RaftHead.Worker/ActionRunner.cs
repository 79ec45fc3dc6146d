using System.Diagnostics;
using Build.Bazel.Remote.Execution.V2;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using RaftHead.Durability;
using RaftHead.Protocol.Runner;
using RaftHead.Storage;
using RaftHead.Worker.Sandbox;
using RaftHead.Worker.Spawn;

namespace RaftHead.Worker;

/// <summary>
/// Runs actions locally: input root hard-linked from the file cache into a pre-made sandbox, the command run as an
/// unprivileged user in its own process group (and network namespace where possible), outputs collected into the CAS.
/// </summary>
public sealed class ActionRunner : IActionRunner, IAsyncDisposable
{
    private readonly IBlobStore _store;
    private readonly RunnerOptions _options;
    private readonly SandboxPool _sandboxes;
    private readonly InputMaterializer _materializer;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly DataDirectoryLock _lock;
    private readonly Spawner? _spawner;

    /// <summary>stdout and stderr stay in memory up to this size and spill to a file beyond it.</summary>
    private const int OutputInMemoryMaxBytes = 1 << 20;

    /// <param name="cache">The worker's file cache when others share it (its peer service); else one under the work directory.</param>
    public ActionRunner(IBlobStore store, RunnerOptions options, ILogger? logger = null, FileCache? cache = null)
    {
        _store = store;
        _options = options;
        _logger = logger ?? NullLogger.Instance;
        _time = options.TimeProvider;
        Isolation = Isolation.Probe(options, out _spawner);
        try
        {
            if (Isolation.User is { } runAs)
            {
                CheckReachable(options.WorkDirectory, runAs);
            }
        }
        catch
        {
            _spawner?.Dispose();
            throw;
        }

        // Before anything in it is touched: the sandbox pool empties the ready and trash directories at start, which
        // would pull the sandboxes out from under a runner already using this directory.
        System.IO.Directory.CreateDirectory(options.WorkDirectory);
        _lock = DataDirectoryLock.Acquire(options.WorkDirectory);
        try
        {
            cache ??= new FileCache(Path.Combine(options.WorkDirectory, "cache"));
            _materializer = new InputMaterializer(store, cache);
            var sandboxes = Path.Combine(options.WorkDirectory, "sandboxes");
            LeftoverActions.Kill(sandboxes, _logger);
            _sandboxes = new SandboxPool(sandboxes, options.WarmSandboxes, _logger);
        }
        catch
        {
            _lock.Dispose();
            _spawner?.Dispose();
            throw;
        }

        _logger.LogInformation("Action runner {Worker} ready: {Isolation}", options.WorkerId, Isolation.Describe());
    }

    public Isolation Isolation { get; }

    public async Task<ActionRunResult> RunAsync(ActionRunRequest request, CancellationToken cancellationToken)
    {
        var metadata = new ExecutedActionMetadata
        {
            Worker = _options.WorkerId,
            QueuedTimestamp = request.QueuedAt == default ? Now() : Timestamp.FromDateTimeOffset(request.QueuedAt),
            WorkerStartTimestamp = Now(),
        };
        var result = new ActionResult { ExecutionMetadata = metadata };
        var sandbox = _sandboxes.Take();
        try
        {
            var execRoot = Path.Combine(sandbox, "exec");
            metadata.InputFetchStartTimestamp = Now();
            var inputs = await _materializer.MaterializeAsync(request.InstanceName, request.Action.InputRootDigest, execRoot, Isolation.User, cancellationToken).ConfigureAwait(false);
            metadata.InputFetchCompletedTimestamp = Now();
            if (inputs.Invalid is { } invalid)
            {
                return Failed(result, Grpc.Core.StatusCode.InvalidArgument, invalid);
            }

            if (inputs.Missing.Count > 0)
            {
                return MissingInputs(result, inputs.Missing);
            }

            var workingDirectory = request.Command.WorkingDirectory.Trim('/');
            var workingPath = SandboxPath.Resolve(execRoot, workingDirectory);
            if (workingPath is null || request.Command.WorkingDirectory.StartsWith('/'))
            {
                return Failed(result, Grpc.Core.StatusCode.InvalidArgument, $"working_directory '{request.Command.WorkingDirectory}' leaves the input root");
            }

            var collector = new OutputCollector(new BlobUploader(_store, request.InstanceName), execRoot);
            try
            {
                CreateOutputParents(request.Command, execRoot, workingDirectory, collector);
            }
            catch (OutputEscapeException e)
            {
                return Failed(result, Grpc.Core.StatusCode.InvalidArgument, e.Message);
            }

            if (request.Command.Arguments.Count == 0)
            {
                return Failed(result, Grpc.Core.StatusCode.InvalidArgument, "the command has no arguments");
            }

            if (!System.IO.Directory.Exists(workingPath))
            {
                System.IO.Directory.CreateDirectory(workingPath);
                if (Isolation.User is { } owner)
                {
                    LibC.LChown(workingPath, owner.Uid, owner.Gid);
                }
            }
            await using var stdout = new OutputCapture(Path.Combine(sandbox, "stdout"), OutputInMemoryMaxBytes);
            await using var stderr = new OutputCapture(Path.Combine(sandbox, "stderr"), OutputInMemoryMaxBytes);
            metadata.ExecutionStartTimestamp = Now();
            var (exitCode, timedOut) = await ExecuteAsync(request, workingPath, stdout, stderr, cancellationToken).ConfigureAwait(false);
            metadata.ExecutionCompletedTimestamp = Now();

            result.ExitCode = exitCode;
            metadata.OutputUploadStartTimestamp = Now();
            var uploader = new BlobUploader(_store, request.InstanceName);
            result.StdoutDigest = await UploadAsync(uploader, stdout, cancellationToken).ConfigureAwait(false);
            result.StderrDigest = await UploadAsync(uploader, stderr, cancellationToken).ConfigureAwait(false);
            try
            {
                await collector.CollectAsync(request.Command, workingDirectory, result, cancellationToken).ConfigureAwait(false);
            }
            catch (OutputEscapeException e)
            {
                return Failed(result, Grpc.Core.StatusCode.InvalidArgument, e.Message);
            }

            metadata.OutputUploadCompletedTimestamp = Now();
            metadata.WorkerCompletedTimestamp = Now();
            return timedOut
                ? new ActionRunResult(result, new Google.Rpc.Status { Code = (int)Grpc.Core.StatusCode.DeadlineExceeded, Message = $"the action ran past its timeout of {Timeout(request.Action).TotalSeconds:0.###} s and was killed" })
                : new ActionRunResult(result, new Google.Rpc.Status());
        }
        finally
        {
            _sandboxes.Release(sandbox);
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _sandboxes.DisposeAsync().ConfigureAwait(false);
        }
        finally
        {
            _spawner?.Dispose();
            _lock.Dispose();
        }
    }

    /// <summary>
    /// The run-as user must be able to walk down to its sandboxes; under a private home directory (mode 0700) it
    /// could not, and every action would fail. Say so at start instead.
    /// </summary>
    private static void CheckReachable(string workDirectory, UnixUser user)
    {
        for (var dir = Path.GetDirectoryName(Path.GetFullPath(workDirectory)); !string.IsNullOrEmpty(dir); dir = Path.GetDirectoryName(dir))
        {
            if (!System.IO.Directory.Exists(dir))
            {
                continue;
            }

            if ((File.GetUnixFileMode(dir) & UnixFileMode.OtherExecute) == 0)
            {
                throw new InvalidOperationException(
                    $"user {user.Name} cannot reach {workDirectory}: {dir} is not searchable by others (chmod o+x it, or choose a data directory elsewhere)");
            }
        }
    }

    private Timestamp Now() => Timestamp.FromDateTimeOffset(_time.GetUtcNow());

    private TimeSpan Timeout(Build.Bazel.Remote.Execution.V2.Action action)
    {
        var timeout = action.Timeout is { } t && t.ToTimeSpan() > TimeSpan.Zero ? t.ToTimeSpan() : _options.DefaultTimeout;
        return timeout > _options.MaxTimeout ? _options.MaxTimeout : timeout;
    }

    /// <summary>REAPI: the directories leading to every output exist before the command runs (not the output itself).</summary>
    private void CreateOutputParents(Command command, string execRoot, string workingDirectory, OutputCollector collector)
    {
        var paths = command.OutputPaths.Count > 0 ? command.OutputPaths : (IEnumerable<string>)command.OutputFiles.Concat(command.OutputDirectories);
        foreach (var path in paths)
        {
            var parent = Path.GetDirectoryName(collector.ResolveOutput(workingDirectory, path))!;
            if (!System.IO.Directory.Exists(parent))
            {
                System.IO.Directory.CreateDirectory(parent);
            }

            if (Isolation.User is { } user)
            {
                // Every level between the exec root and the output must be writable by the action.
                for (var dir = parent; dir.Length > execRoot.Length && dir.StartsWith(execRoot, StringComparison.Ordinal); dir = Path.GetDirectoryName(dir)!)
                {
                    LibC.LChown(dir, user.Uid, user.Gid);
                }
            }
        }
    }

    private static async Task<Digest> UploadAsync(BlobUploader uploader, OutputCapture capture, CancellationToken cancellationToken)
    {
        if (capture.InMemory is { } bytes)
        {
            return await uploader.UploadBytesAsync(bytes, cancellationToken).ConfigureAwait(false);
        }

        await capture.FlushAsync(cancellationToken).ConfigureAwait(false);
        return await uploader.UploadFileAsync(capture.SpillPath, cancellationToken).ConfigureAwait(false);
    }

    private Task<(int ExitCode, bool TimedOut)> ExecuteAsync(ActionRunRequest request, string workingPath, OutputCapture stdout, OutputCapture stderr, CancellationToken cancellationToken) =>
        _spawner is { } spawner
            ? ExecuteDirectAsync(spawner, request, workingPath, stdout, stderr, cancellationToken)
            : ExecuteThroughHelpersAsync(request, workingPath, stdout, stderr, cancellationToken);

    /// <summary>
    /// One clone and one exec: the spawner's thread is already in the action's user and network namespace, and
    /// posix_spawn gives the process its own session, the working directory, stdin from /dev/null and the two pipes.
    /// </summary>
    private async Task<(int ExitCode, bool TimedOut)> ExecuteDirectAsync(Spawner spawner, ActionRunRequest request, string workingPath, OutputCapture stdout, OutputCapture stderr, CancellationToken cancellationToken)
    {
        await using var stdoutReader = OutputPipe.Open(out var stdoutWrite);
        await using var stderrReader = OutputPipe.Open(out var stderrWrite);
        SpawnRequest spawn;
        try
        {
            spawn = new SpawnRequest(request.Command.Arguments, request.Command.EnvironmentVariables, workingPath, stdoutWrite, stderrWrite);
        }
        catch
        {
            _ = LibC.Close(stdoutWrite);
            _ = LibC.Close(stderrWrite);
            throw;
        }

        // Not waiting for the start on its own saves a thread hop: the pumps can read before the child exists.
        spawner.Submit(spawn);
        var pumpOut = stdoutReader.CopyToAsync(stdout, CancellationToken.None);
        var pumpErr = stderrReader.CopyToAsync(stderr, CancellationToken.None);

        using var timeout = new CancellationTokenSource(Timeout(request.Action), _time);
        using var either = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken);
        var timedOut = false;
        try
        {
            await spawn.Exited.WaitAsync(either.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            timedOut = timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // A start that failed is told below; any other fault surfaces from the second wait, after the kill.
        }

        int pid;
        try
        {
            pid = await spawn.Started.ConfigureAwait(false);
        }
        catch (SpawnException e)
        {
            await Task.WhenAll(pumpOut, pumpErr).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            // As the helper programs answered: the shell's codes for a program missing (127) or not runnable (126).
            await stderr.WriteAsync(System.Text.Encoding.UTF8.GetBytes($"failed to execute {request.Command.Arguments[0]}: {e.Message}\n"), cancellationToken).ConfigureAwait(false);
            return (e.Errno == LibC.ENOENT ? 127 : 126, false);
        }

        // Whatever the outcome, nothing the action started may outlive it.
        KillGroup(pid);
        var status = await spawn.Exited.ConfigureAwait(false);
        await Task.WhenAll(pumpOut, pumpErr).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        return (timedOut ? -1 : Spawner.ExitCode(status), timedOut);
    }

    private async Task<(int ExitCode, bool TimedOut)> ExecuteThroughHelpersAsync(ActionRunRequest request, string workingPath, OutputCapture stdout, OutputCapture stderr, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo("/usr/bin/setsid")
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workingPath,
        };
        // Every exec in this chain costs about half a millisecond, so each tool does as much as it can: unshare both
        // makes the network namespace and drops to the user (clearing supplementary groups) in one step.
        var user = Isolation.User;
        if (Isolation.OwnNetworkNamespace)
        {
            start.ArgumentList.Add("/usr/bin/unshare");
            start.ArgumentList.Add("--net");
            if (user is not null)
            {
                start.ArgumentList.Add($"--setgid={user.Gid}");
                start.ArgumentList.Add($"--setuid={user.Uid}");
            }

            start.ArgumentList.Add("--");
        }
        else if (user is not null)
        {
            start.ArgumentList.Add("/usr/bin/setpriv");
            start.ArgumentList.Add($"--reuid={user.Uid}");
            start.ArgumentList.Add($"--regid={user.Gid}");
            start.ArgumentList.Add("--clear-groups");
            start.ArgumentList.Add("--");
        }

        foreach (var argument in request.Command.Arguments)
        {
            start.ArgumentList.Add(argument);
        }

        // The action sees exactly the environment its Command names, nothing of ours.
        start.Environment.Clear();
        foreach (var variable in request.Command.EnvironmentVariables)
        {
            start.Environment[variable.Name] = variable.Value;
        }

        using var process = new Process { StartInfo = start };
        process.Start();
        process.StandardInput.Close();
        var pgid = process.Id; // setsid made the child the leader of a new process group
        var pumpOut = process.StandardOutput.BaseStream.CopyToAsync(stdout, CancellationToken.None);
        var pumpErr = process.StandardError.BaseStream.CopyToAsync(stderr, CancellationToken.None);

        using var timeout = new CancellationTokenSource(Timeout(request.Action), _time);
        using var either = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken);
        var timedOut = false;
        try
        {
            await process.WaitForExitAsync(either.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            timedOut = timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested;
        }
        finally
        {
            // Whatever the outcome, nothing the action started may outlive it.
            KillGroup(pgid);
        }

        await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        await Task.WhenAll(pumpOut, pumpErr).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        return (timedOut ? -1 : process.ExitCode, timedOut);
    }

    private void KillGroup(int pgid)
    {
        if (LibC.Kill(-pgid, LibC.SIGKILL) != 0 && LibC.LastError != LibC.ESRCH)
        {
            _logger.LogWarning("Could not kill process group {ProcessGroup}: errno {Errno}", pgid, LibC.LastError);
        }
    }

    private static ActionRunResult Failed(ActionResult result, Grpc.Core.StatusCode code, string message) =>
        new(result, new Google.Rpc.Status { Code = (int)code, Message = message });

    private static ActionRunResult MissingInputs(ActionResult result, IReadOnlyList<Digest> missing)
    {
        var failure = new Google.Rpc.PreconditionFailure();
        foreach (var digest in missing)
        {
            failure.Violations.Add(new Google.Rpc.PreconditionFailure.Types.Violation { Type = "MISSING", Subject = $"blobs/{digest.Hash}/{digest.SizeBytes}" });
        }

        var status = new Google.Rpc.Status { Code = (int)Grpc.Core.StatusCode.FailedPrecondition, Message = $"{missing.Count} input blob(s) are missing from the CAS" };
        status.Details.Add(Any.Pack(failure));
        return new ActionRunResult(result, status);
    }
}
