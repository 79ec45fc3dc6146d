namespace RaftHead.Worker.Sandbox;

/// <summary>An output path or symlink that would reach outside the action's directory.</summary>
public sealed class OutputEscapeException : Exception
{
    public OutputEscapeException(string message)
        : base(message)
    {
    }
}
