using RaftHead.Protocol;

namespace RaftHead.Worker;

public sealed record RunnerOptions
{
    /// <summary>Holds the file cache and the sandboxes; hard links need both on one file system.</summary>
    public required string WorkDirectory { get; init; }

    /// <summary>Reported in ExecutedActionMetadata.worker.</summary>
    public string WorkerId { get; init; } = Environment.MachineName;

    /// <summary>The unprivileged account actions run as when this process is root (see scripts/setup-worker.sh).</summary>
    public string RunAsUser { get; init; } = Defaults.RunAsUser;

    /// <summary>Lets actions run as root when the run-as user is missing. Off: the runner refuses to start instead.</summary>
    public bool AllowRunAsRoot { get; init; }

    /// <summary>Cut actions off from the network in their own namespace where the kernel allows it.</summary>
    public bool IsolateNetwork { get; init; } = true;

    /// <summary>Applied when an Action names no timeout.</summary>
    public TimeSpan DefaultTimeout { get; init; } = TimeSpan.FromMilliseconds(Defaults.ActionTimeoutDefaultMs);

    /// <summary>Upper bound on any action's timeout.</summary>
    public TimeSpan MaxTimeout { get; init; } = TimeSpan.FromMilliseconds(Defaults.ActionTimeoutMaxMs);

    /// <summary>
    /// Start actions with posix_spawn from a thread in their user and namespace. Off, or where this machine cannot
    /// (glibc before 2.29, Linux before 5.3): through the setsid and unshare programs, about 2 ms more per action.
    /// </summary>
    public bool DirectSpawn { get; init; } = true;

    public int WarmSandboxes { get; init; } = 4;

    /// <summary>The clock for ExecutedActionMetadata timestamps and action timeouts; tests pass a fake one.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
}
