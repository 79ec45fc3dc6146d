namespace RaftHead.Durability.Tests;

/// <summary>
/// Entry point used only when a test runs this assembly as a child process (<c>dotnet RaftHead.Durability.Tests.dll
/// hold DIR</c>) to hold a data directory's lock from another process; the test host never calls it.
/// </summary>
public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        if (args is ["hold", var directory])
        {
            using var held = DataDirectoryLock.Acquire(directory);
            await Console.Out.WriteLineAsync($"{LockHolder.ReadyLine} {Environment.ProcessId}");
            await Console.Out.FlushAsync();
            // Held until the parent closes our stdin or kills us.
            await Console.In.ReadToEndAsync();
            return 0;
        }

        await Console.Error.WriteLineAsync("usage: hold <data-directory>");
        return 2;
    }
}
