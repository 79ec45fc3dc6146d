using System.Diagnostics;

namespace RaftHead.Cli.Tests;

/// <summary>The supervisor behind <c>rh up</c>, over harmless children (<c>sh</c> and <c>sleep</c>).</summary>
public sealed class ProcessSupervisorTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    private static readonly SupervisorOptions Fast = new() { RestartBackoffInitialMs = 50, RestartBackoffMaxMs = 200, StopGraceMs = 5_000 };

    private static ChildSpec Shell(string name, string script) => new(name, "/bin/sh", ["-c", script]);

    [Fact]
    public async Task A_child_killed_with_sigkill_is_reported_and_started_again_and_stop_leaves_nothing_running()
    {
        var output = new LineSignallingWriter("head-1 | hello");
        await using var supervisor = new ProcessSupervisor(output, Fast);
        var second = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        supervisor.Started += (name, pid) =>
        {
            if (supervisor.StartsOf(name) == 2)
            {
                second.TrySetResult(pid);
            }
        };
        supervisor.Start(Shell("head-1", "echo hello; exec sleep 600"));
        var first = supervisor.PidOf("head-1")!.Value;
        await output.Seen.WaitAsync(Patience);

        Process.GetProcessById(first).Kill();
        var restarted = await second.Task.WaitAsync(Patience);

        Assert.NotEqual(first, restarted);
        Assert.True(Gone(first), $"pid {first} still runs");
        await supervisor.StopAsync();

        Assert.True(Gone(restarted), $"pid {restarted} still runs after stop");
        Assert.Null(supervisor.PidOf("head-1"));
        var lines = output.ToString().Split('\n');
        Assert.Contains("head-1 | hello", lines);
        Assert.Contains($"head-1 | exited with code 137, killed (SIGKILL) (pid {first})", lines);
        Assert.Contains($"head-1 | restarted (pid {restarted})", lines);
        Assert.Contains($"head-1 | stopped (pid {restarted})", lines);
    }

    [Fact]
    public async Task Stop_takes_the_first_order_down_before_the_next_and_kills_a_child_that_ignores_sigterm()
    {
        var output = new LineSignallingWriter("worker-1 | ignoring SIGTERM");
        var supervisor = new ProcessSupervisor(output, Fast with { StopGraceMs = 300 });
        supervisor.Start(new ChildSpec("head-1", "/bin/sleep", ["600"]) { StopOrder = 1 });
        // An ignored signal stays ignored across exec: this sleep shrugs off SIGTERM.
        supervisor.Start(Shell("worker-1", "trap '' TERM; echo ignoring SIGTERM; exec sleep 600") with { StopOrder = 0 });
        var head = supervisor.PidOf("head-1")!.Value;
        var worker = supervisor.PidOf("worker-1")!.Value;
        await output.Seen.WaitAsync(Patience);

        await supervisor.DisposeAsync();

        Assert.True(Gone(head) && Gone(worker), "a child survived the stop");
        var lines = output.ToString().Split('\n').ToList();
        var killed = lines.IndexOf($"worker-1 | did not stop within 300 ms of SIGTERM; killing pid {worker}");
        var stopped = lines.IndexOf($"head-1 | stopped (pid {head})");
        Assert.True(killed >= 0 && stopped > killed, output.ToString());
        Assert.DoesNotContain(lines, l => l.Contains("restarted", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_child_leads_a_session_of_its_own_so_a_terminals_ctrl_c_reaches_only_the_supervisor()
    {
        var output = new LineSignallingWriter("head-1 | up");
        await using var supervisor = new ProcessSupervisor(output, Fast);
        supervisor.Start(Shell("head-1", "echo up; exec sleep 600"));
        var pid = supervisor.PidOf("head-1")!.Value;
        await output.Seen.WaitAsync(Patience);

        // /proc/<pid>/stat: "pid (comm) state ppid pgrp session ..."; the PID tracked is the child's, and it leads its session.
        var stat = (await File.ReadAllTextAsync($"/proc/{pid}/stat")).Split(' ');
        var self = pid.ToString(System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal([self, self], [stat[4], stat[5]]);
    }

    [Fact]
    public async Task A_usage_exit_is_not_restarted_and_fails_the_supervisor()
    {
        await using var supervisor = new ProcessSupervisor(new StringWriter(), Fast);
        supervisor.Start(Shell("head-1", "echo 'rh: unknown option' >&2; exit 2"));

        var reason = await supervisor.Failed.WaitAsync(Patience);

        Assert.Equal("head-1 exited with code 2; restarting it would not help", reason);
        Assert.Equal(1, supervisor.StartsOf("head-1"));
    }

    [Fact]
    public async Task A_child_that_keeps_dying_is_given_up_on_after_the_bound()
    {
        await using var supervisor = new ProcessSupervisor(new StringWriter(), Fast with { QuickDeathsMax = 2 });
        supervisor.Start(Shell("head-1", "exit 1"));

        var reason = await supervisor.Failed.WaitAsync(Patience);

        Assert.StartsWith("head-1 died 3 times in a row", reason);
        Assert.Equal(3, supervisor.StartsOf("head-1"));
    }

    [Fact]
    public async Task A_child_killed_with_sigkill_again_and_again_is_restarted_past_the_bound_for_crashes()
    {
        await using var supervisor = new ProcessSupervisor(new StringWriter(), Fast with { QuickDeathsMax = 2 });
        var fifth = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        supervisor.Started += (name, _) =>
        {
            if (supervisor.StartsOf(name) == 5)
            {
                fifth.TrySetResult();
            }
        };
        supervisor.Start(Shell("head-1", "kill -KILL $$"));

        await fifth.Task.WaitAsync(Patience);

        Assert.False(supervisor.Failed.IsCompleted, "the supervisor gave up on a child killed from outside");
        await supervisor.StopAsync();
    }

    private static bool Gone(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return process.HasExited;
        }
        catch (ArgumentException)
        {
            return true;
        }
    }

    /// <summary>Output that says when a given line has been written, so a test acts once a child is past its set-up.</summary>
    private sealed class LineSignallingWriter(string awaited) : StringWriter
    {
        private readonly TaskCompletionSource _seen = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Seen => _seen.Task;

        public override void WriteLine(string? value)
        {
            base.WriteLine(value);
            if (value == awaited)
            {
                _seen.TrySetResult();
            }
        }
    }
}
