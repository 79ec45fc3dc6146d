using Build.Bazel.Remote.Execution.V2;

namespace RaftHead.Worker.Sandbox;

/// <summary>What laying out an input root found: blobs the CAS lacks, or a tree that may not be laid out.</summary>
public sealed record MaterializeResult(IReadOnlyList<Digest> Missing, string? Invalid, int Files, int Linked, int Copied)
{
    public bool Succeeded => Missing.Count == 0 && Invalid is null;
}
