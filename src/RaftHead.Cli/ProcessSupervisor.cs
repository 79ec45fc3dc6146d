using System.Diagnostics;
using System.Runtime.InteropServices;

namespace RaftHead.Cli;

/// <summary>
/// Keeps child processes running: writes their output lines prefixed with their names, restarts one that dies (after a
/// growing backoff, bounded in count), and on stop signals each by its PID — SIGTERM, then SIGKILL after a grace —
/// in <see cref="ChildSpec.StopOrder"/>. Nothing it started outlives <see cref="StopAsync"/>.
/// </summary>
public sealed partial class ProcessSupervisor : IAsyncDisposable
{
    private const int SIGKILL = 9;
    private const int SIGTERM = 15;
    private const string SetsidPath = "/usr/bin/setsid";

    private readonly TextWriter _output;
    private readonly SupervisorOptions _options;
    private readonly Lock _lock = new();
    private readonly Lock _writeLock = new();
    private readonly Dictionary<string, Child> _children = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();
    private readonly TaskCompletionSource<string> _failed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task? _stopped;

    public ProcessSupervisor(TextWriter output, SupervisorOptions? options = null)
    {
        _output = output;
        _options = options ?? new SupervisorOptions();
    }

    /// <summary>Raised after each start of a child, with its name and PID (the first start included), outside the supervisor's lock.</summary>
    public event Action<string, int>? Started;

    /// <summary>Completes, with the reason, when a child cannot be kept running (a fatal exit code, or too many quick deaths).</summary>
    public Task<string> Failed => _failed.Task;

    /// <summary>Starts the child and keeps it running until <see cref="StopAsync"/>.</summary>
    public void Start(ChildSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var child = new Child(spec);
        lock (_lock)
        {
            if (_stopping.IsCancellationRequested)
            {
                throw new InvalidOperationException("the supervisor is stopping");
            }

            if (!_children.TryAdd(spec.Name, child))
            {
                throw new ArgumentException($"a child named {spec.Name} is already supervised", nameof(spec));
            }

            // The first start happens here, so a failure to start at all is the caller's exception.
            StartProcess(child);
        }

        Started?.Invoke(spec.Name, child.Pid);

        child.Loop = Task.Run(() => SuperviseAsync(child));
    }

    /// <summary>The PID of the child's current process, or null while it is not running.</summary>
    public int? PidOf(string name)
    {
        lock (_lock)
        {
            return _children.TryGetValue(name, out var child) && child.Process is { } process ? process.Id : null;
        }
    }

    /// <summary>
    /// kill -9 of the child's current process, by its PID, as an operator or the kernel's OOM killer would: the child
    /// is restarted as after any death from outside. Returns the PID killed, or null while the child is not running.
    /// </summary>
    public int? KillNow(string name)
    {
        lock (_lock)
        {
            // Under the lock, so a restart cannot swap the process between the look and the signal.
            if (!_children.TryGetValue(name, out var child) || child.Process is not { } process || process.HasExited)
            {
                return null;
            }

            return Kill(process.Id, SIGKILL) == 0 ? process.Id : null;
        }
    }

    /// <summary>How many times the child has been started.</summary>
    public int StartsOf(string name)
    {
        lock (_lock)
        {
            return _children.TryGetValue(name, out var child) ? child.Starts : 0;
        }
    }

    /// <summary>Stops every child (SIGTERM, then SIGKILL after the grace) in stop order and waits until all have exited.</summary>
    public Task StopAsync()
    {
        lock (_lock)
        {
            if (_stopped is null)
            {
                // Under the lock: no child starts after this, so the processes signalled below are all there are.
                _stopping.Cancel();
                _stopped = StopAllAsync();
            }

            return _stopped;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _stopping.Dispose();
    }

    private async Task StopAllAsync()
    {
        List<Child> children;
        lock (_lock)
        {
            children = new List<Child>(_children.Values);
        }

        children.Sort((a, b) => a.Spec.StopOrder.CompareTo(b.Spec.StopOrder));
        var index = 0;
        while (index < children.Count)
        {
            var order = children[index].Spec.StopOrder;
            var group = new List<Task>();
            for (; index < children.Count && children[index].Spec.StopOrder == order; index++)
            {
                group.Add(StopChildAsync(children[index]));
            }

            await Task.WhenAll(group).ConfigureAwait(false);
        }

        foreach (var child in children)
        {
            if (child.Loop is { } loop)
            {
                await loop.ConfigureAwait(false);
            }
        }
    }

    private async Task StopChildAsync(Child child)
    {
        Process? process;
        lock (_lock)
        {
            process = child.Process;
        }

        if (process is null)
        {
            return;
        }

        try
        {
            await StopProcessAsync(child, process).ConfigureAwait(false);
        }
        finally
        {
            lock (_lock)
            {
                child.Process = null;
            }
        }
    }

    private async Task StopProcessAsync(Child child, Process process)
    {
        if (process.HasExited)
        {
            return;
        }

        var pid = process.Id;
        _ = Kill(pid, SIGTERM);
        using var grace = new CancellationTokenSource(_options.StopGraceMs);
        try
        {
            await process.WaitForExitAsync(grace.Token).ConfigureAwait(false);
            Write(child.Spec.Name, $"stopped (pid {pid})");
        }
        catch (OperationCanceledException)
        {
            Write(child.Spec.Name, $"did not stop within {_options.StopGraceMs} ms of SIGTERM; killing pid {pid}");
            try
            {
                process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // It exited between the grace running out and the kill.
            }

            await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    private async Task SuperviseAsync(Child child)
    {
        var name = child.Spec.Name;
        var backoffMs = _options.RestartBackoffInitialMs;
        var quickDeaths = 0;
        while (true)
        {
            Process process;
            Task output;
            lock (_lock)
            {
                process = child.Process!;
                output = child.Output!;
            }

            var startedAt = Stopwatch.GetTimestamp();
            await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
            // Lines the child wrote just before it exited belong before the line saying it did.
            await Task.WhenAny(output, Task.Delay(_options.OutputDrainMs, CancellationToken.None)).ConfigureAwait(false);
            lock (_lock)
            {
                if (_stopping.IsCancellationRequested)
                {
                    // The stop holds this process (or will look at it); it is not this loop's any more.
                    return;
                }

                child.Process = null;
            }

            var code = process.ExitCode;
            var pid = process.Id;
            process.Dispose();

            Write(name, $"exited with code {code}{Signal(code)} (pid {pid})");
            if (child.Spec.FatalExitCodes.Contains(code))
            {
                _failed.TrySetResult($"{name} exited with code {code}; restarting it would not help");
                return;
            }

            if (!child.Spec.Restart)
            {
                return;
            }

            if (Stopwatch.GetElapsedTime(startedAt).TotalMilliseconds >= _options.StableAfterMs)
            {
                quickDeaths = 0;
                backoffMs = _options.RestartBackoffInitialMs;
            }

            // SIGKILL comes from outside (an operator, a chaos test, the kernel's OOM killer), never from a crash of
            // the child's own: such deaths are restarted without end (with the backoff), as a run of leader kills
            // must not take the whole cluster down.
            var killedFromOutside = code == 128 + 9;
            if (!killedFromOutside && ++quickDeaths > _options.QuickDeathsMax)
            {
                _failed.TrySetResult($"{name} died {quickDeaths} times in a row, each within {_options.StableAfterMs / 1000} s of starting; giving up on it");
                return;
            }

            try
            {
                await Task.Delay(backoffMs, _stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            backoffMs = Math.Min(backoffMs * 2, _options.RestartBackoffMaxMs);
            lock (_lock)
            {
                if (_stopping.IsCancellationRequested)
                {
                    return;
                }

                try
                {
                    StartProcess(child);
                }
                catch (System.ComponentModel.Win32Exception e)
                {
                    _failed.TrySetResult($"{name} could not be started again: {e.Message}");
                    return;
                }
            }

            Started?.Invoke(name, child.Pid);
        }
    }

    /// <summary>Called under the lock.</summary>
    private void StartProcess(Child child)
    {
        var ownSession = _options.OwnSession && File.Exists(SetsidPath);
        var start = new ProcessStartInfo(ownSession ? SetsidPath : child.Spec.FileName)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        if (ownSession)
        {
            // setsid execs in place (a child is no process group leader, so it need not fork): the PID stays the child's.
            start.ArgumentList.Add(child.Spec.FileName);
        }

        foreach (var argument in child.Spec.Arguments)
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException($"{child.Spec.Name}: {child.Spec.FileName} did not start");
        child.Process = process;
        child.Pid = process.Id;
        child.Starts++;
        child.Output = Task.WhenAll(PumpAsync(child.Spec.Name, process.StandardOutput), PumpAsync(child.Spec.Name, process.StandardError));
        if (child.Starts > 1)
        {
            Write(child.Spec.Name, $"restarted (pid {process.Id})");
        }

    }

    private async Task PumpAsync(string name, StreamReader reader)
    {
        while (await reader.ReadLineAsync(CancellationToken.None).ConfigureAwait(false) is { } line)
        {
            Write(name, line);
        }
    }

    private void Write(string name, string line)
    {
        lock (_writeLock)
        {
            _output.WriteLine($"{name} | {line}");
            _output.Flush();
        }
    }

    /// <summary>.NET reports a child killed by signal N as exit code 128 + N.</summary>
    private static string Signal(int code) => code switch
    {
        137 => ", killed (SIGKILL)",
        143 => ", terminated (SIGTERM)",
        130 => ", interrupted (SIGINT)",
        134 => ", aborted (SIGABRT)",
        139 => ", crashed (SIGSEGV)",
        _ => "",
    };

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    private sealed class Child(ChildSpec spec)
    {
        public ChildSpec Spec { get; } = spec;

        public Process? Process { get; set; }

        public Task? Output { get; set; }

        public Task? Loop { get; set; }

        public int Starts { get; set; }

        /// <summary>Of the latest start.</summary>
        public int Pid { get; set; }
    }
}
