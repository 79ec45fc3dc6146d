using Build.Bazel.Remote.Execution.V2;
using Google.ByteStream;
using Google.LongRunning;
using Grpc.Core;
using RaftHead.Protocol.V1;

namespace RaftHead.Protocol.Client;

/// <summary>Every client stub a head serves, over one channel (or call invoker).</summary>
public sealed class ReapiClients
{
    public ReapiClients(CallInvoker invoker)
    {
        ArgumentNullException.ThrowIfNull(invoker);
        Capabilities = new Capabilities.CapabilitiesClient(invoker);
        Cas = new ContentAddressableStorage.ContentAddressableStorageClient(invoker);
        ActionCache = new ActionCache.ActionCacheClient(invoker);
        Execution = new Execution.ExecutionClient(invoker);
        Operations = new Operations.OperationsClient(invoker);
        ByteStream = new ByteStream.ByteStreamClient(invoker);
        Admin = new Admin.AdminClient(invoker);
        Graphs = new Graphs.GraphsClient(invoker);
    }

    public ReapiClients(ChannelBase channel)
        : this(channel.CreateCallInvoker())
    {
    }

    public Capabilities.CapabilitiesClient Capabilities { get; }

    public ContentAddressableStorage.ContentAddressableStorageClient Cas { get; }

    public ActionCache.ActionCacheClient ActionCache { get; }

    public Execution.ExecutionClient Execution { get; }

    public Operations.OperationsClient Operations { get; }

    public ByteStream.ByteStreamClient ByteStream { get; }

    public Admin.AdminClient Admin { get; }

    public Graphs.GraphsClient Graphs { get; }
}
