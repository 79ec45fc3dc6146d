using System.IO.Pipes;
using Microsoft.Win32.SafeHandles;
using RaftHead.Worker.Sandbox;

namespace RaftHead.Worker.Spawn;

/// <summary>A pipe for an action's stdout or stderr: the write end for the child, the read end as a stream for us.</summary>
internal sealed unsafe class OutputPipe : IDisposable
{
    private int _writeFd;

    private OutputPipe(int readFd, int writeFd)
    {
        _writeFd = writeFd;
        // The same stream type .NET's Process reads a child's output through.
        Reader = new AnonymousPipeClientStream(PipeDirection.In, new SafePipeHandle(readFd, ownsHandle: true));
    }

    public Stream Reader { get; }

    public int WriteFd => _writeFd;

    /// <summary>Both ends close on exec: a child gets only the copy posix_spawn puts on its fd 1 or 2.</summary>
    public static OutputPipe Open()
    {
        var fds = stackalloc int[2];
        if (SpawnNative.Pipe2(fds, SpawnNative.O_CLOEXEC) != 0)
        {
            throw new IOException($"pipe2 failed: {SpawnNative.Describe(LibC.LastError)}");
        }

        return new OutputPipe(fds[0], fds[1]);
    }

    public void CloseWriteEnd()
    {
        if (_writeFd >= 0)
        {
            _ = SpawnNative.Close(_writeFd);
            _writeFd = -1;
        }
    }

    public void Dispose()
    {
        CloseWriteEnd();
        Reader.Dispose();
    }
}
