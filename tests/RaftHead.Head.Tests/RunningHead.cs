using Grpc.Net.Client;
using RaftHead.Protocol.Client;
using RaftHead.Protocol.Runner;
using RaftHead.Storage;
using RaftHead.Testing;

namespace RaftHead.Head.Tests;

/// <summary>A single-node head on a free loopback port in its own temp directory, with a channel and clients to it.</summary>
internal sealed class RunningHead : IAsyncDisposable
{
    private readonly TempDirectory _data;

    private RunningHead(TempDirectory data, SingleNodeHead head, GrpcChannel channel)
    {
        _data = data;
        Head = head;
        Channel = channel;
        Rpc = new ReapiClients(channel);
    }

    public SingleNodeHead Head { get; }

    public GrpcChannel Channel { get; }

    public ReapiClients Rpc { get; }

    public string DataDirectory => _data.Path;

    /// <param name="casMaxBytes">The CAS bound.</param>
    /// <param name="runnerFactory">With a runner the head executes; its work directory goes under the data directory.</param>
    /// <param name="channel">Client settings (retries, limits).</param>
    public static async Task<RunningHead> StartAsync(long casMaxBytes, Func<IBlobStore, string, IActionRunner>? runnerFactory = null, GrpcChannelSettings? channel = null)
    {
        var data = new TempDirectory("rh-head-test-");
        try
        {
            // The run-as user of an executing head must be able to reach its sandboxes.
            File.SetUnixFileMode(data.Path, (UnixFileMode)0x1ED);
            var head = await SingleNodeHead.StartAsync(
                new SingleNodeOptions { DataDirectory = data.Path, Port = 0, CasMaxBytes = casMaxBytes, ExecutionEnabled = runnerFactory is not null },
                runnerFactory is null ? null : store => runnerFactory(store, data.Combine("work")),
                CancellationToken.None);
            return new RunningHead(data, head, GrpcChannels.Create(head.Address, channel ?? new GrpcChannelSettings()));
        }
        catch
        {
            data.Dispose();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        await Head.DisposeAsync();
        _data.Dispose();
    }
}
