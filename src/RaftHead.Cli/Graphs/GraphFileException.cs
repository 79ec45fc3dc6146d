namespace RaftHead.Cli.Graphs;

/// <summary>A graph file that cannot be used as written; the message names the file, and the place or node and field.</summary>
internal sealed class GraphFileException : Exception
{
    public GraphFileException(string message)
        : base(message)
    {
    }
}
