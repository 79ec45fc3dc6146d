using System.Diagnostics;

namespace RaftHead.Bench.Cluster;

/// <summary>
/// One <c>rh</c> process the bench started: its output is drained (the last lines kept for errors), its
/// <c>ready:</c> line awaited, and it is stopped by its own PID (SIGTERM, then SIGKILL of its tree after a grace).
/// </summary>
internal sealed class RhProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly TaskCompletionSource<string> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Queue<string> _tail = new();
    private readonly string _name;

    private RhProcess(string name, Process process)
    {
        _name = name;
        _process = process;
    }

    public int Pid => _process.Id;

    public static async Task<RhProcess> StartAsync(string name, string rh, IEnumerable<string> arguments, TimeSpan readyWithin, CancellationToken cancellationToken)
    {
        var info = new ProcessStartInfo(rh) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in arguments)
        {
            info.ArgumentList.Add(a);
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {rh}");
        var started = new RhProcess(name, process);
        process.OutputDataReceived += (_, e) => started.Line(e.Data);
        process.ErrorDataReceived += (_, e) => started.Line(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _ = process.WaitForExitAsync(CancellationToken.None).ContinueWith(_ => started._ready.TrySetException(new InvalidOperationException($"{name} exited before it was ready: {started.Tail()}")), TaskScheduler.Default);
        try
        {
            await started._ready.Task.WaitAsync(readyWithin, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            await started.DisposeAsync().ConfigureAwait(false);
            throw new InvalidOperationException($"{name} was not ready within {readyWithin.TotalSeconds:0} s: {started.Tail()}");
        }

        return started;
    }

    public string ReadyLine => _ready.Task.Result;

    public string Tail()
    {
        lock (_tail)
        {
            return string.Join(" | ", _tail);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            using (var term = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await term.WaitForExitAsync().ConfigureAwait(false);
            }

            using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            try
            {
                await _process.WaitForExitAsync(grace.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                Console.Error.WriteLine($"cluster: {_name} (pid {_process.Id}) did not stop on SIGTERM; killing its tree");
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync().ConfigureAwait(false);
            }
        }

        _process.Dispose();
    }

    private void Line(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_tail)
        {
            _tail.Enqueue(line);
            if (_tail.Count > 20)
            {
                _tail.Dequeue();
            }
        }

        if (line.StartsWith("ready:", StringComparison.Ordinal))
        {
            _ready.TrySetResult(line);
        }
    }
}
