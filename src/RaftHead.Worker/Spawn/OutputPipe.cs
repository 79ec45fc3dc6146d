using System.IO.Pipes;
using Microsoft.Win32.SafeHandles;
using RaftHead.Worker.Sandbox;

namespace RaftHead.Worker.Spawn;

/// <summary>A pipe for an action's stdout or stderr: the write end for the child, the read end as a stream for us.</summary>
internal static unsafe class OutputPipe
{
    /// <summary>
    /// Both ends close on exec: a child gets only the copy posix_spawn puts on its fd 1 or 2. The reader is the same
    /// stream type .NET's Process reads a child's output through.
    /// </summary>
    public static Stream Open(out int writeFd)
    {
        var fds = stackalloc int[2];
        if (SpawnNative.Pipe2(fds, SpawnNative.O_CLOEXEC) != 0)
        {
            throw new IOException($"pipe2 failed: {SpawnNative.Describe(LibC.LastError)}");
        }

        writeFd = fds[1];
        return new AnonymousPipeClientStream(PipeDirection.In, new SafePipeHandle(fds[0], ownsHandle: true));
    }
}
