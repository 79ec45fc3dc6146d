using Build.Bazel.Remote.Execution.V2;
using Google.Protobuf;
using Grpc.Core;
using RaftHead.Storage;

namespace RaftHead.Head.Reapi;

/// <summary>
/// ActionCache over an <see cref="IActionCache"/> that already answers incomplete results as misses,
/// with the blob store at hand for the inline_* options.
/// </summary>
public sealed class ActionCacheService : ActionCache.ActionCacheBase
{
    private readonly IActionCache _cache;
    private readonly IBlobStore _store;
    private readonly ReapiOptions _options;

    public ActionCacheService(IActionCache cache, IBlobStore store, ReapiOptions options)
    {
        _cache = cache;
        _store = store;
        _options = options;
    }


    public override async Task<ActionResult> GetActionResult(GetActionResultRequest request, ServerCallContext context)
    {
        ReapiErrors.CheckInstanceName(request.InstanceName);
        ReapiErrors.CheckDigest(request.ActionDigest, "action_digest");
        var result = await _cache.GetAsync(request.InstanceName, request.ActionDigest, context.CancellationToken).ConfigureAwait(false)
            ?? throw new RpcException(new Status(StatusCode.NotFound, $"No cached result for action {request.ActionDigest.Hash}/{request.ActionDigest.SizeBytes}."));
        if (!request.InlineStdout && !request.InlineStderr && request.InlineOutputFiles.Count == 0)
        {
            return result;
        }

        result = result.Clone();
        var budget = _options.MaxInlineBytes;
        if (request.InlineStdout && result.StdoutRaw.IsEmpty && result.StdoutDigest is { SizeBytes: > 0 } stdout && stdout.SizeBytes <= budget)
        {
            result.StdoutRaw = Wrap(await _store.ReadAllAsync(request.InstanceName, stdout, context.CancellationToken).ConfigureAwait(false));
            budget -= result.StdoutRaw.Length;
        }

        if (request.InlineStderr && result.StderrRaw.IsEmpty && result.StderrDigest is { SizeBytes: > 0 } stderr && stderr.SizeBytes <= budget)
        {
            result.StderrRaw = Wrap(await _store.ReadAllAsync(request.InstanceName, stderr, context.CancellationToken).ConfigureAwait(false));
            budget -= result.StderrRaw.Length;
        }

        foreach (var file in result.OutputFiles)
        {
            if (file.Digest is { SizeBytes: > 0 } digest && digest.SizeBytes <= budget && request.InlineOutputFiles.Contains(file.Path))
            {
                file.Contents = Wrap(await _store.ReadAllAsync(request.InstanceName, digest, context.CancellationToken).ConfigureAwait(false));
                budget -= file.Contents.Length;
            }
        }

        return result;
    }

    public override async Task<ActionResult> UpdateActionResult(UpdateActionResultRequest request, ServerCallContext context)
    {
        ReapiErrors.CheckInstanceName(request.InstanceName);
        ReapiErrors.CheckDigest(request.ActionDigest, "action_digest");
        var result = request.ActionResult ?? throw ReapiErrors.InvalidArgument("action_result", "is missing");
        CheckResultDigests(result);
        await _cache.PutAsync(request.InstanceName, request.ActionDigest, result, context.CancellationToken).ConfigureAwait(false);
        return result;
    }

    /// <summary>Every digest an ActionResult names must be well-formed, or nothing is stored.</summary>
    private static void CheckResultDigests(ActionResult result)
    {
        for (var i = 0; i < result.OutputFiles.Count; i++)
        {
            ReapiErrors.CheckDigest(result.OutputFiles[i].Digest, $"action_result.output_files[{i}].digest");
        }

        for (var i = 0; i < result.OutputDirectories.Count; i++)
        {
            ReapiErrors.CheckDigest(result.OutputDirectories[i].TreeDigest, $"action_result.output_directories[{i}].tree_digest");
        }

        if (result.StdoutDigest is not null)
        {
            ReapiErrors.CheckDigest(result.StdoutDigest, "action_result.stdout_digest");
        }

        if (result.StderrDigest is not null)
        {
            ReapiErrors.CheckDigest(result.StderrDigest, "action_result.stderr_digest");
        }
    }

    /// <summary>A blob gone since the completeness check inlines as empty rather than failing the lookup.</summary>
    private static ByteString Wrap(byte[]? bytes) => bytes is null ? ByteString.Empty : UnsafeByteOperations.UnsafeWrap(bytes);
}
