using System.Diagnostics;
using RaftHead.Testing;

namespace RaftHead.Cli.Tests;

/// <summary><c>rh completion</c>: the printed script, loaded into a real bash, completes from rh's own command tree.</summary>
public sealed class CompletionTests : IDisposable
{
    private readonly TempDirectory _bin = new("rh-completion-");

    public void Dispose() => _bin.Dispose();

    [Theory]
    [InlineData("rh wor", "worker workers")]
    [InlineData("rh ops --state d", "dead done")]
    [InlineData("rh cache ", "get stats")]
    [InlineData("rh workers ", "quarantine release")]
    [InlineData("rh completion ", "bash zsh")]
    public async Task Bash_completes_commands_options_and_their_values(string line, string expected)
    {
        var (code, script, stderr) = await RhProcess.RunAsync("completion", "bash");
        Assert.True(code == 0, stderr);

        var candidates = await CompleteInBashAsync(script, line);

        Assert.Equal(expected.Split(' '), candidates.Where(c => !c.StartsWith('-') && !c.StartsWith('/')).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Zsh_script_asks_rh_for_the_word_under_the_cursor()
    {
        var (code, script, _) = await RhProcess.RunAsync("completion", "zsh");

        Assert.Equal(0, code);
        Assert.StartsWith("#compdef rh\n", script, StringComparison.Ordinal);
        Assert.Contains("\"[suggest:${CURSOR}]\" \"${BUFFER}\"", script, StringComparison.Ordinal);
        Assert.Contains("compdef _rh rh", script, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unknown_shell_is_refused()
    {
        var (code, stdout, stderr) = await RhProcess.RunAsync("completion", "fish");

        Assert.NotEqual(0, code);
        Assert.DoesNotContain("complete", stdout, StringComparison.Ordinal);
        Assert.Contains("fish", stderr, StringComparison.Ordinal);
    }

    /// <summary>Sources the script in bash with an <c>rh</c> on PATH that runs this build, and completes <paramref name="line"/> at its end.</summary>
    private async Task<List<string>> CompleteInBashAsync(string script, string line)
    {
        var host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h && File.Exists(h) ? h : "dotnet";
        var rh = _bin.Combine("rh");
        await File.WriteAllTextAsync(rh, $"#!/bin/sh\nexec '{host}' '{Path.Combine(AppContext.BaseDirectory, "rh.dll")}' \"$@\"\n");
        File.SetUnixFileMode(rh, (UnixFileMode)0x1ED);
        var scriptPath = _bin.Combine("rh.bash");
        await File.WriteAllTextAsync(scriptPath, script);

        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add("""
            source "$1"
            COMP_LINE="$2"
            COMP_POINT=${#COMP_LINE}
            read -r -a COMP_WORDS <<< "$COMP_LINE"
            # A trailing space starts a new, empty word.
            [[ "$COMP_LINE" == *" " ]] && COMP_WORDS+=("")
            COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
            _rh_complete
            printf '%s\n' "${COMPREPLY[@]}"
            """);
        start.ArgumentList.Add("bash");
        start.ArgumentList.Add(scriptPath);
        start.ArgumentList.Add(line);
        start.Environment["PATH"] = _bin.Path + ":" + Environment.GetEnvironmentVariable("PATH");
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(deadline.Token);
        Assert.True(process.ExitCode == 0, await stderr);
        return (await stdout).Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();
    }
}
