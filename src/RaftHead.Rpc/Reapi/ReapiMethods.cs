using Build.Bazel.Remote.Execution.V2;
using Google.ByteStream;
using Google.LongRunning;
using Google.Protobuf.WellKnownTypes;

namespace RaftHead.Rpc.Reapi;

/// <summary>The REAPI v2, ByteStream and longrunning methods, declared once for servers and clients alike.</summary>
public static class ReapiMethods
{
    public const string CapabilitiesService = "build.bazel.remote.execution.v2.Capabilities";
    public const string CasService = "build.bazel.remote.execution.v2.ContentAddressableStorage";
    public const string ActionCacheService = "build.bazel.remote.execution.v2.ActionCache";
    public const string ExecutionService = "build.bazel.remote.execution.v2.Execution";
    public const string ByteStreamService = "google.bytestream.ByteStream";
    public const string OperationsService = "google.longrunning.Operations";

    public static readonly Method<GetCapabilitiesRequest, ServerCapabilities> GetCapabilities =
        new(CapabilitiesService, "GetCapabilities", MethodType.Unary, GetCapabilitiesRequest.Parser, ServerCapabilities.Parser, idempotent: true);

    public static readonly Method<FindMissingBlobsRequest, FindMissingBlobsResponse> FindMissingBlobs =
        new(CasService, "FindMissingBlobs", MethodType.Unary, FindMissingBlobsRequest.Parser, FindMissingBlobsResponse.Parser, idempotent: true);

    public static readonly Method<BatchUpdateBlobsRequest, BatchUpdateBlobsResponse> BatchUpdateBlobs =
        new(CasService, "BatchUpdateBlobs", MethodType.Unary, BatchUpdateBlobsRequest.Parser, BatchUpdateBlobsResponse.Parser, idempotent: true);

    public static readonly Method<BatchReadBlobsRequest, BatchReadBlobsResponse> BatchReadBlobs =
        new(CasService, "BatchReadBlobs", MethodType.Unary, BatchReadBlobsRequest.Parser, BatchReadBlobsResponse.Parser, idempotent: true);

    public static readonly Method<GetTreeRequest, GetTreeResponse> GetTree =
        new(CasService, "GetTree", MethodType.ServerStreaming, GetTreeRequest.Parser, GetTreeResponse.Parser);

    public static readonly Method<GetActionResultRequest, ActionResult> GetActionResult =
        new(ActionCacheService, "GetActionResult", MethodType.Unary, GetActionResultRequest.Parser, ActionResult.Parser, idempotent: true);

    public static readonly Method<UpdateActionResultRequest, ActionResult> UpdateActionResult =
        new(ActionCacheService, "UpdateActionResult", MethodType.Unary, UpdateActionResultRequest.Parser, ActionResult.Parser, idempotent: true);

    public static readonly Method<ExecuteRequest, Operation> Execute =
        new(ExecutionService, "Execute", MethodType.ServerStreaming, ExecuteRequest.Parser, Operation.Parser);

    public static readonly Method<WaitExecutionRequest, Operation> WaitExecution =
        new(ExecutionService, "WaitExecution", MethodType.ServerStreaming, WaitExecutionRequest.Parser, Operation.Parser);

    public static readonly Method<ReadRequest, ReadResponse> Read =
        new(ByteStreamService, "Read", MethodType.ServerStreaming, ReadRequest.Parser, ReadResponse.Parser);

    public static readonly Method<WriteRequest, WriteResponse> Write =
        new(ByteStreamService, "Write", MethodType.ClientStreaming, WriteRequest.Parser, WriteResponse.Parser);

    public static readonly Method<QueryWriteStatusRequest, QueryWriteStatusResponse> QueryWriteStatus =
        new(ByteStreamService, "QueryWriteStatus", MethodType.Unary, QueryWriteStatusRequest.Parser, QueryWriteStatusResponse.Parser, idempotent: true);

    public static readonly Method<GetOperationRequest, Operation> GetOperation =
        new(OperationsService, "GetOperation", MethodType.Unary, GetOperationRequest.Parser, Operation.Parser, idempotent: true);

    public static readonly Method<ListOperationsRequest, ListOperationsResponse> ListOperations =
        new(OperationsService, "ListOperations", MethodType.Unary, ListOperationsRequest.Parser, ListOperationsResponse.Parser, idempotent: true);

    public static readonly Method<CancelOperationRequest, Empty> CancelOperation =
        new(OperationsService, "CancelOperation", MethodType.Unary, CancelOperationRequest.Parser, Empty.Parser);
}
