using System.Collections.Concurrent;
using System.Diagnostics;

namespace RaftHead.Consensus.Tests.Cluster;

/// <summary>
/// A Raft node in a child process: this test assembly started with <c>raft-node</c> (see <see cref="Program"/>).
/// Its stderr (the node's log) is kept for failure reports; it is stopped by its PID.
/// </summary>
public sealed class NodeProcess : IDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _log = new();
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private NodeProcess(NodeHostOptions options, Process process)
    {
        Options = options;
        _process = process;
    }

    public NodeHostOptions Options { get; }

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    public static NodeProcess Start(NodeHostOptions options)
    {
        var start = new ProcessStartInfo("dotnet", [typeof(Program).Assembly.Location, .. options.ToArguments()])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var node = new NodeProcess(options, process);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data == "ready") node._ready.TrySetResult();
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null) node._log.Enqueue(e.Data);
        };
        process.Exited += (_, _) => node._ready.TrySetException(new InvalidOperationException($"node {options.Id} exited before it was ready"));
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return node;
    }

    public Task WaitReadyAsync(TimeSpan timeout) => _ready.Task.WaitAsync(timeout);

    /// <summary>kill -9: no shutdown code runs; whatever was not fsynced is lost.</summary>
    public async Task KillAsync()
    {
        _process.Kill();
        await _process.WaitForExitAsync();
    }

    public string LogTail(int lines = 60) => string.Join(Environment.NewLine, _log.TakeLast(lines));

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException)
        {
            // Never started or already reaped.
        }
        _process.Dispose();
    }
}
