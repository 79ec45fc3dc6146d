using Build.Bazel.Remote.Execution.V2;
using Build.Bazel.Semver;
using Grpc.Core;

namespace RaftHead.Head.Reapi;

/// <summary>What this server offers; Bazel refuses to start remote work unless these match its expectations.</summary>
public sealed class CapabilitiesService : Capabilities.CapabilitiesBase
{
    private readonly ServerCapabilities _capabilities;

    public CapabilitiesService(ReapiOptions options)
    {
        _capabilities = new ServerCapabilities
        {
            CacheCapabilities = new CacheCapabilities
            {
                DigestFunctions = { DigestFunction.Types.Value.Sha256 },
                ActionCacheUpdateCapabilities = new ActionCacheUpdateCapabilities { UpdateEnabled = true },
                MaxBatchTotalSizeBytes = options.MaxBatchTotalSizeBytes,
                SymlinkAbsolutePathStrategy = SymlinkAbsolutePathStrategy.Types.Value.Disallowed,
            },
            ExecutionCapabilities = new ExecutionCapabilities
            {
                DigestFunction = DigestFunction.Types.Value.Sha256,
                DigestFunctions = { DigestFunction.Types.Value.Sha256 },
                ExecEnabled = options.ExecutionEnabled,
            },
            LowApiVersion = new SemVer { Major = 2, Minor = 0 },
            HighApiVersion = new SemVer { Major = 2, Minor = 3 },
        };
    }

    public override Task<ServerCapabilities> GetCapabilities(GetCapabilitiesRequest request, ServerCallContext context) =>
        Task.FromResult(_capabilities);
}
