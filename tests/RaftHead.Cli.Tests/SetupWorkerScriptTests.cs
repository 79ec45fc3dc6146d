using System.Diagnostics;
using RaftHead.Testing;

namespace RaftHead.Cli.Tests;

/// <summary><c>scripts/setup-worker.sh</c> as an operator runs it to make a host a worker (the unit written, never started here).</summary>
public sealed class SetupWorkerScriptTests : IDisposable
{
    private readonly TempDirectory _root = new("rh-setup-worker-");

    public void Dispose() => _root.Dispose();

    private static async Task<(int Code, string Stdout, string Stderr)> RunAsync(params string[] arguments)
    {
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "scripts", "setup-worker.sh"));
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(deadline.Token);
        return (process.ExitCode, await stdout, await stderr);
    }

    private string FakeRh()
    {
        var path = _root.Combine("rh");
        File.WriteAllText(path, "#!/bin/sh\n");
        File.SetUnixFileMode(path, (UnixFileMode)0x1ED);
        return path;
    }

    [Fact]
    public async Task With_heads_it_writes_a_restarting_unit_that_runs_the_worker_as_asked()
    {
        var rh = FakeRh();
        var units = _root.Combine("units");
        var data = _root.Combine("data", "worker");

        var (code, stdout, stderr) = await RunAsync(
            "--heads", "10.0.0.1:8980,10.0.0.2:8980", "--rh", rh, "--data", data, "--slots", "4", "--platform", "pool=gpu", "--unit-dir", units, "--no-start");

        Assert.True(code == 0, stderr);
        var unit = await File.ReadAllTextAsync(Path.Combine(units, "rh-worker.service"));
        Assert.Contains($"ExecStart={rh} worker --heads 10.0.0.1:8980,10.0.0.2:8980 --data {data} --run-as rh-runner --slots 4 --platform pool=gpu\n", unit, StringComparison.Ordinal);
        Assert.Contains("Restart=always\n", unit, StringComparison.Ordinal);
        Assert.Contains("WantedBy=multi-user.target\n", unit, StringComparison.Ordinal);
        Assert.Contains("rh-worker.service", stdout, StringComparison.Ordinal);
        Assert.Equal((UnixFileMode)0x1ED, File.GetUnixFileMode(data));
        Assert.Empty(Directory.GetFiles(units, ".rh-worker*"));
    }

    [Theory]
    [InlineData("--heads", "h:1;rm -rf /", "is not a comma-separated list of host:port")]
    [InlineData("--slots", "0", "--slots must be a whole number")]
    [InlineData("--platform", "pool=$(id)", "is not NAME=VALUE")]
    [InlineData("--data", "relative/dir", "--data must be an absolute path")]
    public async Task Bad_input_is_refused_with_its_reason_and_writes_no_unit(string option, string value, string reason)
    {
        var units = _root.Combine("units");
        var arguments = new List<string> { "--heads", "h1:8980", "--rh", FakeRh(), "--unit-dir", units, "--no-start" };
        var at = arguments.IndexOf(option);
        if (at >= 0)
        {
            arguments[at + 1] = value;
        }
        else
        {
            arguments.AddRange([option, value]);
        }

        var (code, _, stderr) = await RunAsync([.. arguments]);

        Assert.Equal(1, code);
        Assert.Contains(reason, stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(units, "rh-worker.service")));
    }

    [Fact]
    public async Task Heads_without_an_rh_to_run_are_refused()
    {
        var (code, _, stderr) = await RunAsync("--heads", "h1:8980", "--unit-dir", _root.Combine("units"), "--no-start");

        Assert.Equal(1, code);
        Assert.Contains("--heads needs --rh PATH", stderr, StringComparison.Ordinal);
    }
}
