using Build.Bazel.Remote.Execution.V2;
using RaftHead.Protocol;

namespace RaftHead.Head.Reapi;

/// <summary>
/// ByteStream resource names as REAPI defines them:
/// <c>{instance}/blobs/{hash}/{size}</c> to read and <c>{instance}/uploads/{uuid}/blobs/{hash}/{size}[/{metadata}]</c> to write.
/// The instance name may hold slashes but no segment of it may be one of the reserved words.
/// </summary>
public sealed record ResourceName(string InstanceName, Digest Digest, string? UploadId, bool Compressed)
{
    private static readonly HashSet<string> Reserved = new(StringComparer.Ordinal)
    {
        "blobs", "uploads", "actions", "actionResults", "operations", "capabilities", "compressed-blobs",
    };

    public static bool TryParseRead(string name, out ResourceName? resource, out string error)
    {
        resource = null;
        var segments = name.Split('/');
        var at = Array.FindIndex(segments, s => s is "blobs" or "compressed-blobs");
        if (at < 0)
        {
            error = $"resource name '{name}' is not of the form '{{instance}}/blobs/{{hash}}/{{size}}'";
            return false;
        }

        return TryFinish(name, segments, instanceEnd: at, blobsAt: at, uploadId: null, allowMetadata: false, out resource, out error);
    }

    public static bool TryParseWrite(string name, out ResourceName? resource, out string error)
    {
        resource = null;
        var segments = name.Split('/');
        var at = Array.IndexOf(segments, "uploads");
        if (at < 0 || at + 2 >= segments.Length || segments[at + 1].Length == 0 || segments[at + 2] is not ("blobs" or "compressed-blobs"))
        {
            error = $"resource name '{name}' is not of the form '{{instance}}/uploads/{{uuid}}/blobs/{{hash}}/{{size}}'";
            return false;
        }

        return TryFinish(name, segments, instanceEnd: at, blobsAt: at + 2, uploadId: segments[at + 1], allowMetadata: true, out resource, out error);
    }

    public string ToReadName() =>
        (InstanceName.Length == 0 ? "" : InstanceName + "/") + "blobs/" + Digests.ToResourceString(Digest);

    private static bool TryFinish(string name, string[] segments, int instanceEnd, int blobsAt, string? uploadId, bool allowMetadata, out ResourceName? resource, out string error)
    {
        resource = null;
        for (var i = 0; i < instanceEnd; i++)
        {
            if (segments[i].Length == 0 || Reserved.Contains(segments[i]))
            {
                error = $"resource name '{name}' has an invalid instance name segment '{segments[i]}'";
                return false;
            }
        }

        var compressed = segments[blobsAt] == "compressed-blobs";
        var hashAt = blobsAt + (compressed ? 2 : 1);
        if (hashAt + 1 >= segments.Length)
        {
            error = $"resource name '{name}' lacks '{{hash}}/{{size}}'";
            return false;
        }

        if (!allowMetadata && hashAt + 2 != segments.Length)
        {
            error = $"resource name '{name}' has unexpected segments after '{{hash}}/{{size}}'";
            return false;
        }

        if (!Digests.TryParse(segments[hashAt] + "/" + segments[hashAt + 1], out var digest, out var digestError))
        {
            error = $"resource name '{name}': {digestError}";
            return false;
        }

        resource = new ResourceName(string.Join('/', segments, 0, instanceEnd), digest, uploadId, compressed);
        error = "";
        return true;
    }
}
