using RaftHead.Testing;

namespace RaftHead.IntegrationTests;

/// <summary><c>rh serve</c> stops cleanly on SIGTERM, also when a second signal comes while it is stopping (as wrappers like timeout send it).</summary>
public sealed class ServeShutdownTests
{
    [Fact]
    public async Task A_second_sigterm_while_stopping_still_lets_the_server_stop_cleanly()
    {
        for (var attempt = 0; attempt < 3; attempt++)
        {
            using var temp = new TempDirectory("rh-shutdown-");
            await using var server = await RhServerProcess.StartAsync(temp.Combine("data"));
            var exitCode = await server.StopTwiceAsync();
            Assert.True(exitCode == 0, $"attempt {attempt}: rh serve exited {exitCode}\n{server.Log}");
            Assert.Contains("stopping", server.Log);
        }
    }
}
