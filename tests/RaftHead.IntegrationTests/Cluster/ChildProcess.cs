using System.Diagnostics;

namespace RaftHead.IntegrationTests.Cluster;

/// <summary>
/// A long-running <c>rh</c> command as a child process whose output the test reads line by line and waits on.
/// Disposing stops it by its process id: SIGTERM, then SIGKILL if it has not exited within a few seconds.
/// </summary>
public sealed class ChildProcess : IAsyncDisposable
{
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(15);

    private readonly Process _process;
    private readonly List<string> _lines = [];
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private ChildProcess(Process process)
    {
        _process = process;
    }

    public int ProcessId => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>Everything it printed so far (stderr lines marked), for failure messages.</summary>
    public string Log
    {
        get
        {
            lock (_lines)
            {
                return string.Join('\n', _lines);
            }
        }
    }

    public static ChildProcess StartRh(params string[] arguments)
    {
        var start = new ProcessStartInfo(RhServerProcess.DotnetHost)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(RhServerProcess.RhDll);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        var process = new Process { StartInfo = start };
        var child = new ChildProcess(process);
        process.OutputDataReceived += (_, e) => child.OnLine(e.Data, null);
        process.ErrorDataReceived += (_, e) => child.OnLine(e.Data, "stderr: ");
        process.Exited += (_, _) => child.Signal();
        process.EnableRaisingEvents = true;
        if (!process.Start())
        {
            throw new InvalidOperationException("rh did not start");
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    /// <summary>The first stdout line at or after <paramref name="fromLine"/> that matches, with its index; throws with the log if the process exits or time runs out first.</summary>
    public async Task<(string Line, int Index)> WaitForLineAsync(Func<string, bool> match, TimeSpan timeout, int fromLine = 0)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            Task changed;
            lock (_lines)
            {
                for (var i = fromLine; i < _lines.Count; i++)
                {
                    if (!_lines[i].StartsWith("stderr: ", StringComparison.Ordinal) && match(_lines[i]))
                    {
                        return (_lines[i], i);
                    }
                }

                fromLine = _lines.Count;
                changed = _changed.Task;
            }

            if (_process.HasExited)
            {
                // The exit can race the last lines; give the readers their end of file before giving up.
                await _process.WaitForExitAsync();
                lock (_lines)
                {
                    if (fromLine < _lines.Count)
                    {
                        continue;
                    }
                }

                throw new InvalidOperationException($"rh exited with code {_process.ExitCode} before printing the awaited line:\n{Log}");
            }

            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
            {
                throw new TimeoutException($"rh printed no awaited line within {timeout.TotalSeconds:F0} s:\n{Log}");
            }

            await Task.WhenAny(changed, Task.Delay(left));
        }
    }

    public int LineCount
    {
        get
        {
            lock (_lines)
            {
                return _lines.Count;
            }
        }
    }

    public void Terminate() => PosixSignals.Terminate(_process.Id);

    /// <summary>Waits for it to exit on its own and returns the exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
        return _process.ExitCode;
    }

    public ValueTask DisposeAsync() => ProcessStop.TerminateAndDisposeAsync(_process, StopTimeout);

    private void OnLine(string? line, string? prefix)
    {
        if (line is null)
        {
            return;
        }

        lock (_lines)
        {
            _lines.Add(prefix + line);
        }

        Signal();
    }

    private void Signal()
    {
        TaskCompletionSource changed;
        lock (_lines)
        {
            changed = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        changed.TrySetResult();
    }
}
