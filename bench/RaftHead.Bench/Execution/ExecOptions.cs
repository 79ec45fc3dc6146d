namespace RaftHead.Bench.Execution;

/// <summary>Bounds of one <c>exec</c> run; every loop stops at its count or its time, whichever comes first.</summary>
internal sealed record ExecOptions
{
    /// <summary>Length of one measured case (one kind of process start, or Execute with one client count).</summary>
    public double CaseSeconds { get; init; } = 3;

    /// <summary>Rounds of every case; the cases alternate within a round, and each figure is the median of its rounds.</summary>
    public int Rounds { get; init; } = 3;

    /// <summary>Calls of one case at most (each needs its own pre-uploaded Action).</summary>
    public int CaseCallsMax { get; init; } = 2_000;

    /// <summary>Concurrent Execute clients of the "many clients" case (the issue asks for 16).</summary>
    public int Clients { get; init; } = 16;

    /// <summary>Scheduler slots of the head; the machine's logical cores unless told (ExecutionOptions' default too).</summary>
    public int Slots { get; init; } = Environment.ProcessorCount;

    /// <summary>Directories of the materialisation tree, each holding <see cref="FilesPerDirectory"/> files.</summary>
    public int Directories { get; init; } = 100;

    public int FilesPerDirectory { get; init; } = 100;

    /// <summary>Timed materialisations per method (InputMaterializer linking, and copying across file systems).</summary>
    public int MaterializeRounds { get; init; } = 5;

    public bool SkipExecute { get; init; }

    public bool SkipMaterialize { get; init; }

    /// <summary>The account actions run as (the runner's default); used for the wrapper chain and directory owners.</summary>
    public string RunAsUser { get; init; } = "rh-runner";

    /// <summary>Where temp directories go (each deleted at the end of its phase).</summary>
    public string TempRoot { get; init; } = Path.GetTempPath();

    /// <summary>
    /// Where the copying materializer keeps its file cache: must be another file system than <see cref="TempRoot"/>, so
    /// that every link fails with EXDEV and InputMaterializer copies. tmpfs by default; the system temp dir when
    /// <see cref="TempRoot"/> is on tmpfs.
    /// </summary>
    public string CopyCacheRoot { get; init; } = "/dev/shm/";

    /// <summary>A hard stop for the whole run: a hang becomes a cancellation, not a stuck process.</summary>
    public TimeSpan RunLimit { get; init; } = TimeSpan.FromMinutes(30);

    public string? OutPath { get; init; }
}
