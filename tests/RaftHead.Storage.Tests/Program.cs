namespace RaftHead.Storage.Tests;

/// <summary>
/// Entry point used only when a test runs this assembly as a child process (<c>dotnet RaftHead.Storage.Tests.dll ingest DIR</c>)
/// to be killed mid-ingest; the test host never calls it.
/// </summary>
public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        if (args.Length == 2 && args[0] == "ingest")
        {
            await CrashChild.IngestUntilKilledAsync(args[1]);
            return 0;
        }

        await Console.Error.WriteLineAsync("usage: ingest <data-directory>");
        return 2;
    }
}
