namespace RaftHead.Cli.Tests;

/// <summary><c>rh up</c> refuses a command line it cannot carry out before it starts anything.</summary>
public sealed class UpCommandTests
{
    [Theory]
    [InlineData("--workers -1", "rh: --workers -1 must be between 0 and 64")]
    [InlineData("--workers 65", "rh: --workers 65 must be between 0 and 64")]
    [InlineData("--base-port 65534", "rh: --base-port 65534: the heads need ports 65534..65536, within 1..65535")]
    [InlineData("--base-port 0", "rh: --base-port 0: the heads need ports 0..2, within 1..65535")]
    [InlineData("--slots 0", "rh: --slots 0 must be at least 1")]
    public async Task Bad_options_are_usage_failures_and_start_nothing(string options, string message)
    {
        var data = Path.Combine(Path.GetTempPath(), "rh-up-test-" + Guid.NewGuid().ToString("N"));
        var (code, stdout, stderr) = await RhProcess.RunAsync(["up", "--data", data, .. options.Split(' ')]);

        Assert.Equal(2, code);
        Assert.Equal(message, stderr.TrimEnd('\n'));
        Assert.Empty(stdout);
        Assert.False(Directory.Exists(data), "a refused rh up created its data directory");
    }

    [Fact]
    public async Task A_taken_port_is_named_before_any_head_starts()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        var data = Path.Combine(Path.GetTempPath(), "rh-up-test-" + Guid.NewGuid().ToString("N"));

        var (code, stdout, stderr) = await RhProcess.RunAsync("up", "--data", data, "--base-port", port.ToString(System.Globalization.CultureInfo.InvariantCulture));

        Assert.Equal(1, code);
        Assert.Equal($"rh: port {port} is in use (another rh up or rh head?); choose others with --base-port", stderr.TrimEnd('\n'));
        Assert.DoesNotContain("head-1 |", stdout, StringComparison.Ordinal);
        Assert.False(Directory.Exists(data));
    }
}
