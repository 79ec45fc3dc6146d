namespace RaftHead.Cli.Demo;

/// <summary>The leader the demo killed during the cold build, and the head elected after it.</summary>
/// <param name="Killed">The leader's id when it was killed.</param>
/// <param name="KilledPid">Its process, killed with SIGKILL.</param>
/// <param name="KilledWhile">The node seen running when the kill was decided.</param>
/// <param name="TermBefore">The leader's term when it was killed.</param>
/// <param name="NewLeader">The head that said it leads after the kill.</param>
/// <param name="TermAfter">Its term.</param>
/// <param name="ElectionMs">From the kill until a survivor answered that it leads (to within one poll).</param>
internal sealed record LeaderChange(long Killed, int KilledPid, string KilledWhile, long TermBefore, long NewLeader, long TermAfter, long ElectionMs)
{
    /// <summary>The killed head's new process, once the supervisor started it again.</summary>
    public int? RestartedPid { get; set; }
}
