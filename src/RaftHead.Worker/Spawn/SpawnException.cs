namespace RaftHead.Worker.Spawn;

/// <summary>posix_spawn could not start the program (the number is the errno, as the exec would have set it).</summary>
internal sealed class SpawnException(int errno, string message) : Exception(message)
{
    public int Errno { get; } = errno;
}
