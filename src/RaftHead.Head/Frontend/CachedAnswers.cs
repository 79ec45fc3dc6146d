using System.Globalization;
using Build.Bazel.Remote.Execution.V2;
using RaftHead.Protocol;
using RaftHead.Protocol.V1;

namespace RaftHead.Head.Frontend;

/// <summary>
/// Execute answered from the action cache without a log entry: the answer is a done operation whose name carries the
/// instance and the action digest, so GetOperation and WaitExecution on any head rebuild it from that head's action
/// cache. Such names never collide with the log's ("operations/..."): they hold "cached/" followed by a digest.
/// </summary>
public static class CachedAnswers
{
    private const string Marker = "cached/";

    /// <summary>"cached/{hash}-{size}", prefixed by "{instance}/" for a named instance.</summary>
    public static string Name(string instanceName, Digest actionDigest)
    {
        ArgumentNullException.ThrowIfNull(instanceName);
        ArgumentNullException.ThrowIfNull(actionDigest);
        var tail = string.Create(CultureInfo.InvariantCulture, $"{Marker}{actionDigest.Hash}-{actionDigest.SizeBytes}");
        return instanceName.Length == 0 ? tail : instanceName + "/" + tail;
    }

    /// <summary>Reads a name made by <see cref="Name"/>; false for any other text.</summary>
    public static bool TryParse(string name, out string instanceName, out Digest actionDigest)
    {
        ArgumentNullException.ThrowIfNull(name);
        instanceName = "";
        actionDigest = new Digest();

        // The digest part has no '/', so the last marker is the one Name wrote, whatever the instance name holds.
        int at;
        var slash = name.LastIndexOf("/" + Marker, StringComparison.Ordinal);
        if (slash > 0)
        {
            instanceName = name[..slash];
            at = slash + 1;
        }
        else if (name.StartsWith(Marker, StringComparison.Ordinal))
        {
            at = 0;
        }
        else
        {
            return false;
        }

        var digestText = name.AsSpan(at + Marker.Length);
        var dash = digestText.LastIndexOf('-');
        if (dash <= 0 || !long.TryParse(digestText[(dash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var size))
        {
            return false;
        }

        var digest = new Digest { Hash = digestText[..dash].ToString(), SizeBytes = size };
        if (!Digests.IsValid(digest))
        {
            return false;
        }

        actionDigest = digest;
        return true;
    }

    /// <summary>The done operation a cache hit answers, in the form the log's operations take.</summary>
    public static OperationState Answer(string instanceName, Digest actionDigest, ActionResult result, long answeredAtUnixMs) => new()
    {
        Name = Name(instanceName, actionDigest),
        InstanceName = instanceName,
        ActionDigest = actionDigest,
        Phase = OperationPhase.Completed,
        Result = result,
        CachedResult = true,
        Status = new Google.Rpc.Status(),
        SubmittedAtUnixMs = answeredAtUnixMs,
        FinishedAtUnixMs = answeredAtUnixMs,
    };
}
