namespace RaftHead.Cli;

/// <summary>A command that needs the leader waited for one as long as it was allowed to and none was elected.</summary>
internal sealed class NoLeaderException(string message) : Exception(message);
