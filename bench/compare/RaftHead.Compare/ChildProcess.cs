using System.Collections.Concurrent;
using System.Diagnostics;

namespace RaftHead.Compare;

/// <summary>
/// A server process this runner started (a node of our cluster or an etcd member). Its stdout and stderr go to a
/// log file and a short in-memory tail; it is stopped by its PID only. Every live child is also listed in a PID file
/// (so that run.sh can clean up if this runner itself is killed) and killed when this process exits.
/// </summary>
internal sealed class ChildProcess : IDisposable
{
    private const int TailLines = 80;
    private static readonly ConcurrentDictionary<int, Process> Live = new();
    private static readonly object PidFileGate = new();
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _tail = new();
    private readonly TextWriter _log;
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly string? _readyLine;
    private bool _disposed;

    private ChildProcess(string name, Process process, TextWriter log, string? readyLine)
    {
        Name = name;
        _process = process;
        _log = log;
        _readyLine = readyLine;
    }

    /// <summary>Where PIDs of started children are appended (one per line); null: nowhere.</summary>
    public static string? PidFile { get; set; }

    public string Name { get; }

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <param name="readyLine">A stdout line that means "serving"; null when readiness is probed another way.</param>
    /// <param name="holdStdin">Keep a pipe to the child's stdin open (our node host exits when its stdin closes).</param>
    /// <param name="environment">Extra environment variables for the child (e.g. runtime knobs).</param>
    public static ChildProcess Start(string name, string fileName, IEnumerable<string> arguments, string logPath, string? readyLine, bool holdStdin, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(fileName, arguments)
        {
            RedirectStandardInput = holdStdin,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) start.Environment[key] = value;
        var log = TextWriter.Synchronized(new StreamWriter(logPath, append: true) { AutoFlush = true });
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var child = new ChildProcess(name, process, log, readyLine);
        process.OutputDataReceived += (_, e) => child.OnLine(e.Data, isStdout: true);
        process.ErrorDataReceived += (_, e) => child.OnLine(e.Data, isStdout: false);
        process.Exited += (_, _) => child._ready.TrySetException(new InvalidOperationException($"{name} exited (code {SafeExitCode(process)}) before it was ready"));
        process.Start();
        Live[process.Id] = process;
        if (PidFile is { } pidFile)
        {
            lock (PidFileGate) File.AppendAllText(pidFile, process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture) + "\n");
        }
        log.WriteLine($"---- {DateTime.UtcNow:HH:mm:ss.fff} started {name} pid {process.Id}: {fileName} {string.Join(' ', start.ArgumentList)}");
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (readyLine is null) child._ready.TrySetResult();
        return child;
    }

    /// <summary>Kills every child still alive (by PID). For the process-exit hook; never throws.</summary>
    public static void KillAllLive()
    {
        foreach (var (pid, process) in Live)
        {
            try
            {
                if (!process.HasExited) process.Kill();
            }
            catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                // Already gone.
            }
            Live.TryRemove(pid, out _);
        }
    }

    public Task WaitReadyAsync(TimeSpan timeout) => _ready.Task.WaitAsync(timeout);

    /// <summary>kill -9 (SIGKILL): returns as soon as the signal is sent; no shutdown code runs in the child.</summary>
    public void SendKill()
    {
        if (!_process.HasExited) _process.Kill();
    }

    public async Task WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
        Live.TryRemove(_process.Id, out _);
    }

    public string Tail(int lines = 20) => string.Join(Environment.NewLine, _tail.TakeLast(lines));

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        var pid = _process.Id;
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                _process.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException)
        {
            // Already reaped.
        }
        Live.TryRemove(pid, out _);
        _log.WriteLine($"---- {DateTime.UtcNow:HH:mm:ss.fff} stopped {Name} pid {pid}");
        _process.Dispose();
        _log.Dispose();
    }

    private void OnLine(string? line, bool isStdout)
    {
        if (line is null) return;
        if (isStdout && _readyLine is not null && line == _readyLine) _ready.TrySetResult();
        _tail.Enqueue(line);
        while (_tail.Count > TailLines) _tail.TryDequeue(out _);
        try
        {
            _log.WriteLine(line);
        }
        catch (ObjectDisposedException)
        {
            // Output that arrives after Dispose is dropped.
        }
    }

    private static string SafeExitCode(Process process)
    {
        try
        {
            return process.ExitCode.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (InvalidOperationException)
        {
            return "?";
        }
    }
}
