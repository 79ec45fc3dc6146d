namespace RaftHead.Cli;

/// <summary>The command line asked for something that cannot be done as asked.</summary>
internal sealed class UsageException : Exception
{
    public UsageException(string message)
        : base(message)
    {
    }
}
