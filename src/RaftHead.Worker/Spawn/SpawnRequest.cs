using System.Runtime.InteropServices;
using System.Text;
using Build.Bazel.Remote.Execution.V2;
using Google.Protobuf.Collections;
using RaftHead.Worker.Sandbox;

namespace RaftHead.Worker.Spawn;

/// <summary>
/// One action to start: its arguments, environment and working directory laid out once in native memory, as
/// posix_spawn takes them, the write ends of its output pipes (owned from here on), and the two tasks that follow it
/// (started with a process id, exited with a wait status).
/// </summary>
internal sealed unsafe class SpawnRequest
{
    private readonly TaskCompletionSource<int> _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<int> _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private byte* _block;

    public SpawnRequest(RepeatedField<string> arguments, RepeatedField<Command.Types.EnvironmentVariable> environment, string workingDirectory, int stdoutFd, int stderrFd)
    {
        StdoutFd = stdoutFd;
        StderrFd = stderrFd;
        var variables = 0;
        var bytes = (nuint)Size(workingDirectory);
        foreach (var argument in arguments)
        {
            bytes += (nuint)Size(argument);
        }

        for (var i = 0; i < environment.Count; i++)
        {
            if (!Superseded(environment, i))
            {
                variables++;
                bytes += (nuint)(Size(environment[i].Name) + Encoding.UTF8.GetByteCount(environment[i].Value) + 1);
            }
        }

        var pointers = (nuint)(arguments.Count + 1 + variables + 1) * (nuint)sizeof(byte*);
        _block = (byte*)NativeMemory.Alloc(pointers + bytes);
        Argv = (byte**)_block;
        Envp = Argv + arguments.Count + 1;
        var text = _block + pointers;
        var end = _block + pointers + bytes;
        for (var i = 0; i < arguments.Count; i++)
        {
            Argv[i] = text;
            text = Put(text, end, arguments[i]);
        }

        Argv[arguments.Count] = null;
        var e = 0;
        for (var i = 0; i < environment.Count; i++)
        {
            if (Superseded(environment, i))
            {
                continue;
            }

            var variable = environment[i];
            Envp[e++] = text;
            if (variable.Name == "PATH")
            {
                SearchPath = text + Encoding.UTF8.GetByteCount(variable.Name) + 1;
            }

            text += Encoding.UTF8.GetBytes(variable.Name, new Span<byte>(text, (int)(end - text)));
            *text++ = (byte)'=';
            text = Put(text, end, variable.Value);
        }

        Envp[e] = null;
        WorkingDirectory = text;
        Put(text, end, workingDirectory);
    }

    public byte** Argv { get; }

    /// <summary>The environment the action sees, exactly its Command's (a name given twice: the last value).</summary>
    public byte** Envp { get; }

    public byte* WorkingDirectory { get; }

    /// <summary>The value of the Command's PATH, where a bare program name is looked up; null when it names none.</summary>
    public byte* SearchPath { get; }

    public int StdoutFd { get; }

    public int StderrFd { get; }

    /// <summary>The process id; a <see cref="SpawnException"/> when the program could not be started.</summary>
    public Task<int> Started => _started.Task;

    /// <summary>The wait status; faults as <see cref="Started"/> does when there was no process.</summary>
    public Task<int> Exited => _exited.Task;

    public void Spawned(int pid)
    {
        Release();
        _started.TrySetResult(pid);
    }

    public void Fail(Exception error)
    {
        Release();
        _started.TrySetException(error);
        _exited.TrySetException(error);
    }

    public void Ended(int status) => _exited.TrySetResult(status);

    public void EndedUnknown(Exception error) => _exited.TrySetException(error);

    /// <summary>
    /// Once the process is started (or could not be), the layout is not needed any more, and our copies of the pipes'
    /// write ends must go, or the readers would never see the end.
    /// </summary>
    private void Release()
    {
        NativeMemory.Free(_block);
        _block = null;
        _ = LibC.Close(StdoutFd);
        _ = LibC.Close(StderrFd);
    }

    private static int Size(string value) => Encoding.UTF8.GetByteCount(value) + 1;

    private static byte* Put(byte* text, byte* end, string value)
    {
        text += Encoding.UTF8.GetBytes(value, new Span<byte>(text, (int)(end - text)));
        *text = 0;
        return text + 1;
    }

    private static bool Superseded(RepeatedField<Command.Types.EnvironmentVariable> environment, int index)
    {
        for (var later = index + 1; later < environment.Count; later++)
        {
            if (environment[later].Name == environment[index].Name)
            {
                return true;
            }
        }

        return false;
    }
}
