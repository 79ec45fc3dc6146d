using Build.Bazel.Remote.Execution.V2;

namespace RaftHead.Head.Scheduling;

/// <summary>
/// The classes an action's running time is compared within: its Command (the same argv, environment and outputs run
/// again with other inputs), and, for a Command seen too seldom, its program on its platform.
/// </summary>
public static class ActionClasses
{
    public static string Of(Build.Bazel.Remote.Execution.V2.Action action) => action.CommandDigest?.Hash ?? "";

    public static string Tool(string program, Platform platform)
    {
        var slash = program.LastIndexOf('/');
        return string.Concat(slash < 0 ? program : program.AsSpan(slash + 1), "|", PlatformRules.Key(platform));
    }
}
