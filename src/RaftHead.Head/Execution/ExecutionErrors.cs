using System.Globalization;
using Build.Bazel.Remote.Execution.V2;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using RaftHead.Protocol;

namespace RaftHead.Head.Execution;

/// <summary>The statuses Execute and the Operations service answer, with the typed details REAPI prescribes.</summary>
internal static class ExecutionErrors
{
    /// <summary>
    /// FAILED_PRECONDITION with a PreconditionFailure holding one MISSING violation per absent blob, subject
    /// <c>blobs/{hash}/{size}</c>: the client uploads exactly those and retries.
    /// </summary>
    public static RpcException MissingBlobs(IReadOnlyList<(Digest Digest, string What)> missing, int listedMax)
    {
        var failure = new Google.Rpc.PreconditionFailure();
        var listed = Math.Min(missing.Count, listedMax);
        for (var i = 0; i < listed; i++)
        {
            var (digest, what) = missing[i];
            failure.Violations.Add(new Google.Rpc.PreconditionFailure.Types.Violation
            {
                Type = "MISSING",
                Subject = string.Create(CultureInfo.InvariantCulture, $"blobs/{digest.Hash}/{digest.SizeBytes}"),
                Description = what,
            });
        }

        var first = missing[0];
        var message = missing.Count == 1
            ? string.Create(CultureInfo.InvariantCulture, $"{first.What} {first.Digest.Hash}/{first.Digest.SizeBytes} is not in the CAS.")
            : listed == missing.Count
                ? string.Create(CultureInfo.InvariantCulture, $"{missing.Count} blobs the action needs are not in the CAS, the first {first.What} {first.Digest.Hash}/{first.Digest.SizeBytes}.")
                : string.Create(CultureInfo.InvariantCulture, $"{missing.Count} blobs the action needs are not in the CAS; the first {listed} are listed.");
        return StatusDetails.Exception(StatusCode.FailedPrecondition, message, failure);
    }

    /// <summary>FAILED_PRECONDITION naming every platform property this node cannot satisfy.</summary>
    public static RpcException UnsatisfiablePlatform(IReadOnlyList<(string Property, string Reason)> problems)
    {
        var failure = new Google.Rpc.PreconditionFailure();
        foreach (var (property, reason) in problems)
        {
            failure.Violations.Add(new Google.Rpc.PreconditionFailure.Types.Violation { Type = "PLATFORM", Subject = property, Description = reason });
        }

        var message = "No worker can satisfy the action's platform: " + string.Join("; ", problems.Select(p => $"{p.Property} ({p.Reason})")) + ".";
        return StatusDetails.Exception(StatusCode.FailedPrecondition, message, failure);
    }

    public static RpcException QueueFull(int queuedMax, TimeSpan retryDelay) =>
        StatusDetails.Exception(
            StatusCode.ResourceExhausted,
            string.Create(CultureInfo.InvariantCulture, $"The execution queue is full ({queuedMax} operations waiting); retry after {retryDelay.TotalMilliseconds:0} ms."),
            new Google.Rpc.RetryInfo { RetryDelay = Duration.FromTimeSpan(retryDelay) });

    public static RpcException OperationNotFound(string name) =>
        new(new Status(StatusCode.NotFound, $"Operation '{name}' is not known here (it finished long ago, never existed, or this head restarted); call Execute again."));

    public static RpcException ShuttingDown() =>
        new(new Status(StatusCode.Unavailable, "This head is shutting down; retry on another head or after it restarts."));
}
