namespace RaftHead.Cli.Demo;

/// <summary>One build of the demo's graph, from its final status and as the client saw it.</summary>
/// <param name="Name">cold or warm.</param>
/// <param name="Nodes">Nodes in the graph.</param>
/// <param name="Ran">Nodes completed by running their action.</param>
/// <param name="Cached">Nodes completed from the action cache.</param>
/// <param name="Submissions">Times nodes were submitted, summed: once each, more when a lost output had its producer run again.</param>
/// <param name="WallMs">From building the request to the graph's final status, as the client saw it.</param>
/// <param name="Blobs">Blobs the inputs need.</param>
/// <param name="Uploaded">Of those, missing from the CAS and sent.</param>
/// <param name="WatchResumes">Times the watch broke and was resumed, on this head or another.</param>
/// <param name="WatchedLast">The head the watch ended on.</param>
internal sealed record BuildFacts(
    string Name, string GraphId, int Nodes, int Ran, int Cached, int Failed, int Cancelled, long Submissions, long WallMs,
    int Blobs, int Uploaded, long UploadedBytes, int WatchResumes, string WatchedLast)
{
    public bool Complete => Failed == 0 && Cancelled == 0 && Ran + Cached == Nodes;

    /// <summary>Cached of the nodes that completed, 0..1.</summary>
    public double CacheHitRatio => Ran + Cached == 0 ? 0 : (double)Cached / (Ran + Cached);
}
