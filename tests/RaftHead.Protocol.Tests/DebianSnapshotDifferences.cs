namespace RaftHead.Protocol.Tests;

/// <summary>
/// What our protos may define beyond the upstream copies in Debian's bazel-bootstrap-source
/// (Bazel 4.2's vendored REAPI, at the v2.2 level, and an older googleapis snapshot).
/// Version labels: "v2.3" means added upstream after v2.2 and advertised by servers as
/// API 2.3; later additions on upstream main name their remote-apis pull request.
/// </summary>
internal static class DebianSnapshotDifferences
{
    private const string Reapi = "build.bazel.remote.execution.v2";
    private const string V23 = "REAPI v2.3";
    private const string V23DigestFunction = "REAPI v2.3 (remote-apis #235, digest_function in requests)";
    private const string V23Compression = "REAPI v2.3 (compressed blobs)";
    private const string Longrunning = "google.longrunning";
    private const string SplitSplice = "SplitBlob/SpliceBlob are optional upstream and RaftHead does not offer them";

    public static KnownDifferences Create() => new()
    {
        NewTypes =
        {
            [$"{Reapi}.Command.OutputDirectoryFormat"] = V23,
            [$"{Reapi}.Compressor"] = V23Compression,
            [$"{Longrunning}.WaitOperationRequest"] = "googleapis, newer than the vendored snapshot (not REAPI)",
        },
        NewFields =
        {
            [$"{Reapi}.Command.output_directory_format"] = V23,
            [$"{Reapi}.ExecutedActionMetadata.virtual_execution_duration"] = V23,
            [$"{Reapi}.OutputDirectory.is_topologically_sorted"] = V23,
            [$"{Reapi}.OutputDirectory.root_directory_digest"] = V23,
            [$"{Reapi}.ExecuteRequest.digest_function"] = V23DigestFunction,
            [$"{Reapi}.ExecuteRequest.inline_stdout"] = V23,
            [$"{Reapi}.ExecuteRequest.inline_stderr"] = V23,
            [$"{Reapi}.ExecuteRequest.inline_output_files"] = V23,
            [$"{Reapi}.ExecuteOperationMetadata.partial_execution_metadata"] = V23,
            [$"{Reapi}.ExecuteOperationMetadata.digest_function"] = V23DigestFunction,
            [$"{Reapi}.GetActionResultRequest.digest_function"] = V23DigestFunction,
            [$"{Reapi}.UpdateActionResultRequest.digest_function"] = V23DigestFunction,
            [$"{Reapi}.FindMissingBlobsRequest.digest_function"] = V23DigestFunction,
            [$"{Reapi}.BatchUpdateBlobsRequest.digest_function"] = V23DigestFunction,
            [$"{Reapi}.BatchUpdateBlobsRequest.Request.compressor"] = V23Compression,
            [$"{Reapi}.BatchReadBlobsRequest.acceptable_compressors"] = V23Compression,
            [$"{Reapi}.BatchReadBlobsRequest.digest_function"] = V23DigestFunction,
            [$"{Reapi}.BatchReadBlobsResponse.Response.compressor"] = V23Compression,
            [$"{Reapi}.GetTreeRequest.digest_function"] = V23DigestFunction,
            [$"{Reapi}.CacheCapabilities.supported_compressors"] = V23Compression,
            [$"{Reapi}.CacheCapabilities.supported_batch_update_compressors"] = V23Compression,
            [$"{Reapi}.CacheCapabilities.max_cas_blob_size_bytes"] = "REAPI v2.3+, upstream main (remote-apis #328, 2025)",
            [$"{Reapi}.ExecutionCapabilities.digest_functions"] = V23DigestFunction,
        },
        NewEnumValues =
        {
            [$"{Reapi}.DigestFunction.Value.SHA256TREE"] = V23,
            [$"{Reapi}.DigestFunction.Value.BLAKE3"] = V23,
            [$"{Reapi}.DigestFunction.Value.GITSHA1"] = "REAPI v2.3+, upstream main (remote-apis #352, 2025)",
        },
        NewMethods =
        {
            [$"{Longrunning}.Operations.WaitOperation"] = "googleapis, newer than the vendored snapshot (not REAPI)",
        },
        RenamedFields =
        {
            [$"{Reapi}.CacheCapabilities.digest_functions"] = ("digest_function", V23DigestFunction),
        },
        Omitted =
        {
            [$"{Reapi}.ContentAddressableStorage.SplitBlob"] = SplitSplice,
            [$"{Reapi}.ContentAddressableStorage.SpliceBlob"] = SplitSplice,
            [$"{Reapi}.SplitBlobRequest"] = SplitSplice,
            [$"{Reapi}.SplitBlobResponse"] = SplitSplice,
            [$"{Reapi}.SpliceBlobRequest"] = SplitSplice,
            [$"{Reapi}.SpliceBlobResponse"] = SplitSplice,
            [$"{Reapi}.ChunkingFunction"] = SplitSplice,
            [$"{Reapi}.FastCdc2020Params"] = SplitSplice,
            [$"{Reapi}.CacheCapabilities.split_blob_support"] = SplitSplice,
            [$"{Reapi}.CacheCapabilities.splice_blob_support"] = SplitSplice,
            [$"{Reapi}.CacheCapabilities.fast_cdc_2020_params"] = SplitSplice,
            [$"{Longrunning}.OperationInfo"] = "only annotates service definitions for code generators",
            [$"{Longrunning}.ListOperationsRequest.return_partial_success"] = "multi-location listing; REAPI never lists operations",
            [$"{Longrunning}.ListOperationsResponse.unreachable"] = "multi-location listing; REAPI never lists operations",
        },
    };
}
