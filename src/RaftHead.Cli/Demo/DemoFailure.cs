namespace RaftHead.Cli.Demo;

/// <summary>The demo did not show what it set out to show; the message says what, in one line.</summary>
internal sealed class DemoFailure(string message) : Exception(message);
