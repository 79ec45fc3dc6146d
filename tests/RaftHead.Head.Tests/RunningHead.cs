using Grpc.Net.Client;
using RaftHead.Protocol.Client;
using RaftHead.Protocol.Runner;
using RaftHead.Storage;
using RaftHead.Testing;
using RaftHead.Worker.Agent;

namespace RaftHead.Head.Tests;

/// <summary>A single-node head on a free loopback port in its own temp directory, with a channel and clients to it.</summary>
internal sealed class RunningHead : IAsyncDisposable
{
    private readonly TempDirectory _data;

    private readonly InProcessWorker? _worker;

    private RunningHead(TempDirectory data, HeadNode head, InProcessWorker? worker, GrpcChannel channel)
    {
        _data = data;
        Head = head;
        _worker = worker;
        Channel = channel;
        Rpc = new ReapiClients(channel);
    }

    public HeadNode Head { get; }

    public GrpcChannel Channel { get; }

    public ReapiClients Rpc { get; }

    public string DataDirectory => Head.Options.DataDirectory;

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
            var head = await HeadNode.StartAsync(
                new HeadNodeOptions { DataDirectory = data.Combine("head"), Port = 0, CasMaxBytes = casMaxBytes, ExecutionEnabled = runnerFactory is not null },
                CancellationToken.None);
            InProcessWorker? worker = null;
            try
            {
                if (runnerFactory is not null)
                {
                    worker = await InProcessWorker.StartAsync(
                        [head.Address.Authority],
                        head.Blobs,
                        runnerFactory(head.Blobs, data.Combine("work")),
                        new WorkerAgentOptions { DataDirectory = data.Combine("worker"), Slots = 2 },
                        CancellationToken.None);
                }
            }
            catch
            {
                await head.DisposeAsync();
                throw;
            }

            return new RunningHead(data, head, worker, GrpcChannels.Create(head.Address, channel ?? new GrpcChannelSettings()));
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
        if (_worker is not null)
        {
            await _worker.DisposeAsync();
        }

        await Head.DisposeAsync();
        _data.Dispose();
    }
}
