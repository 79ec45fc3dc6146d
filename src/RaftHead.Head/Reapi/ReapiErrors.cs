using Build.Bazel.Remote.Execution.V2;
using Grpc.Core;
using RaftHead.Protocol;

namespace RaftHead.Head.Reapi;

/// <summary>The precise statuses REAPI clients expect for bad input, in one place.</summary>
internal static class ReapiErrors
{
    public static RpcException InvalidArgument(string field, string description) =>
        StatusDetails.Exception(
            StatusCode.InvalidArgument,
            $"{field}: {description}",
            new Google.Rpc.BadRequest { FieldViolations = { new Google.Rpc.BadRequest.Types.FieldViolation { Field = field, Description = description } } });

    /// <summary>Throws INVALID_ARGUMENT naming the field unless the digest is well-formed.</summary>
    public static void CheckDigest(Digest? digest, string field)
    {
        if (Digests.Validate(digest) is { } problem)
        {
            throw InvalidArgument(field, problem);
        }
    }

    public static RpcException BlobNotFound(Digest digest) =>
        new(new Status(StatusCode.NotFound, $"Blob {digest.Hash}/{digest.SizeBytes} not found."));

    public static void CheckInstanceName(string instanceName)
    {
        if (instanceName.Length == 0)
        {
            return;
        }

        foreach (var segment in instanceName.Split('/'))
        {
            if (segment.Length == 0 || segment is "blobs" or "uploads" or "actions" or "actionResults" or "operations" or "capabilities" or "compressed-blobs")
            {
                throw InvalidArgument("instance_name", $"'{instanceName}' has an empty or reserved segment '{segment}'");
            }
        }
    }
}
