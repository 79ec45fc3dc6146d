using RaftHead.Protocol.Client;
using RaftHead.Storage.Remote;
using RaftHead.Worker.Agent;
using RaftHead.Worker.Sandbox;

namespace RaftHead.Worker.Tests;

/// <summary>A worker composed as <c>rh worker</c> composes it without peers: its file cache, the heads behind it, a real runner and agent.</summary>
internal static class ComposedWorker
{
    /// <summary>
    /// Starts one in <paramref name="data"/>; its runner and agent go into <paramref name="owned"/> (dispose in reverse),
    /// the returned storage is the caller's to dispose after them.
    /// </summary>
    /// <param name="runnerId">The name results carry as their worker (ExecutedActionMetadata.worker).</param>
    public static async Task<WorkerStorage> StartAsync(string data, string runnerId, string headAuthority, GrpcChannels channels, int slots, List<IAsyncDisposable> owned)
    {
        var workerId = WorkerIdentity.LoadOrCreate(data);
        var work = Path.Combine(data, "work");
        var cache = new FileCache(Path.Combine(work, "cache"));
        var heads = new HeadConnection([headAuthority], channels);
        var storage = WorkerStorage.Compose(heads, channels, cache, workerId, peers: false);
        var runner = new ActionRunner(storage.Store, new RunnerOptions { WorkDirectory = work, WorkerId = runnerId, WarmSandboxes = 1 }, cache: cache);
        owned.Add(runner);
        var agent = new WorkerAgent(
            new WorkerAgentOptions { DataDirectory = data, Slots = slots, LeaseAhead = 0, LeaseWaitMs = 2_000, StopGraceMs = 0, Platform = [.. MachinePlatform.Default()] },
            heads,
            runner,
            storage.Store);
        owned.Add(agent);
        await agent.StartAsync(CancellationToken.None);
        return storage;
    }
}
