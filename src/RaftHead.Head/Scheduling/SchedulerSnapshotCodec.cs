using System.Collections.Immutable;
using Google.Protobuf;
using RaftHead.Protocol.V1;

namespace RaftHead.Head.Scheduling;

/// <summary>
/// The state's byte form: a <see cref="SchedulerSnapshot"/> with every collection in a defined order, so equal states
/// give equal bytes on every replica. Only the state is encoded; the indexes are rebuilt on decode, and a snapshot whose
/// parts disagree (a queue ring naming an invocation with nothing waiting, a lease on an unknown worker) is refused.
/// </summary>
public static class SchedulerSnapshotCodec
{
    public const uint FormatVersion = 1;

    public static byte[] Encode(SchedulerState state)
    {
        var snapshot = new SchedulerSnapshot { FormatVersion = FormatVersion, AppliedIndex = state.AppliedIndex, Version = state.Version };
        snapshot.Operations.AddRange(state.Operations.Values);
        snapshot.Workers.AddRange(state.Workers.Values);
        foreach (var (key, level) in state.Queues)
        {
            var ring = new QueueRing { PlatformKey = key.PlatformKey, Priority = key.Priority };
            ring.Invocations.AddRange(level.Ring);
            snapshot.Rings.Add(ring);
        }

        snapshot.ActionCache.AddRange(state.Cache.OldestFirst());
        foreach (var graph in state.Graphs.Values)
        {
            snapshot.Graphs.Add(graph.ToProto());
        }

        snapshot.Nondeterminism.AddRange(state.Nondeterminism);

        return snapshot.ToByteArray();
    }

    /// <summary>Throws <see cref="InvalidDataException"/> for bytes that are not a consistent snapshot of this format.</summary>
    public static SchedulerState Decode(ReadOnlySpan<byte> bytes, SchedulerLimits? limits = null)
    {
        limits ??= new SchedulerLimits();
        SchedulerSnapshot snapshot;
        try
        {
            snapshot = SchedulerSnapshot.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new InvalidDataException("The scheduler snapshot does not parse: " + e.Message, e);
        }

        if (snapshot.FormatVersion != FormatVersion)
        {
            throw new InvalidDataException($"The scheduler snapshot has format {snapshot.FormatVersion}; this replica reads format {FormatVersion}.");
        }

        var workers = ImmutableSortedDictionary.CreateBuilder<string, WorkerState>(StringComparer.Ordinal);
        var usage = ImmutableDictionary.CreateBuilder<string, WorkerUsage>(StringComparer.Ordinal);
        foreach (var worker in snapshot.Workers)
        {
            workers.Add(worker.WorkerId, worker);
            usage.Add(worker.WorkerId, WorkerUsage.For(worker.Gpus));
        }

        var operations = ImmutableSortedDictionary.CreateBuilder<string, OperationState>(StringComparer.Ordinal);
        var requests = ImmutableDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        var inFlight = ImmutableDictionary.CreateBuilder<ActionKey, string>();
        var finished = ImmutableSortedSet.CreateBuilder<FinishedKey>();
        var waiting = new Dictionary<QueueKey, Dictionary<string, ImmutableSortedDictionary<long, string>>>();
        int queued = 0, leased = 0;
        foreach (var operation in snapshot.Operations)
        {
            operations.Add(operation.Name, operation);
            foreach (var requestId in operation.RequestIds)
            {
                requests.Add(requestId, operation.Name);
            }

            if (SchedulerState.IsFinished(operation.Phase))
            {
                finished.Add(new FinishedKey(operation.FinishedAtUnixMs, operation.Name));
                continue;
            }

            if (!operation.DoNotCache)
            {
                inFlight.Add(ActionKey.Of(operation.InstanceName, operation.ActionDigest), operation.Name);
            }

            if (operation.Phase == OperationPhase.Leased)
            {
                if (!usage.TryGetValue(operation.Lease.WorkerId, out var held))
                {
                    throw new InvalidDataException($"The scheduler snapshot leases {operation.Name} to unknown worker {operation.Lease.WorkerId}.");
                }

                usage[operation.Lease.WorkerId] = held.Plus(operation.Name, operation.Resources, operation.Lease.GpuDevices);
                if (operation.CloneLease is { } clone)
                {
                    if (clone.WorkerId == operation.Lease.WorkerId || !usage.TryGetValue(clone.WorkerId, out var cloneHeld))
                    {
                        throw new InvalidDataException($"The scheduler snapshot clones {operation.Name} onto worker {clone.WorkerId}, unknown or its original's.");
                    }

                    usage[clone.WorkerId] = cloneHeld.Plus(operation.Name, operation.Resources, clone.GpuDevices);
                }

                leased++;
                continue;
            }

            var key = new QueueKey(PlatformRules.Key(operation.Platform), operation.Priority);
            if (!waiting.TryGetValue(key, out var byInvocation))
            {
                waiting[key] = byInvocation = new Dictionary<string, ImmutableSortedDictionary<long, string>>(StringComparer.Ordinal);
            }

            byInvocation[operation.ToolInvocationId] = (byInvocation.GetValueOrDefault(operation.ToolInvocationId) ?? ImmutableSortedDictionary<long, string>.Empty)
                .Add(operation.CreatedIndex, operation.Name);
            queued++;
        }

        var queues = ImmutableSortedDictionary.CreateBuilder<QueueKey, QueueLevel>();
        foreach (var ring in snapshot.Rings)
        {
            var key = new QueueKey(ring.PlatformKey, ring.Priority);
            if (!waiting.Remove(key, out var byInvocation) || byInvocation.Count != ring.Invocations.Count)
            {
                throw new InvalidDataException($"The scheduler snapshot's queue ring for priority {ring.Priority} does not match its queued operations.");
            }

            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var invocation in ring.Invocations)
            {
                if (!byInvocation.ContainsKey(invocation) || !seen.Add(invocation))
                {
                    throw new InvalidDataException($"The scheduler snapshot's queue ring names invocation {invocation} twice or with nothing waiting.");
                }
            }

            queues.Add(key, new QueueLevel([.. ring.Invocations], byInvocation.ToImmutableDictionary(StringComparer.Ordinal)));
        }

        if (waiting.Count > 0)
        {
            throw new InvalidDataException("The scheduler snapshot has queued operations outside every queue ring.");
        }

        var cache = ActionCacheState.Empty;
        foreach (var entry in snapshot.ActionCache)
        {
            cache = cache.Put(ActionKey.Of(entry.InstanceName, entry.ActionDigest), entry, int.MaxValue);
        }

        var (graphs, links) = DecodeGraphs(snapshot, operations, limits);
        return new SchedulerState
        {
            Graphs = graphs,
            GraphLinks = links,
            Nondeterminism = [.. snapshot.Nondeterminism],
            AppliedIndex = snapshot.AppliedIndex,
            Version = snapshot.Version,
            Operations = operations.ToImmutable(),
            Workers = workers.ToImmutable(),
            Queues = queues.ToImmutable(),
            Cache = cache,
            Usage = usage.ToImmutable(),
            Requests = requests.ToImmutable(),
            InFlight = inFlight.ToImmutable(),
            Finished = finished.ToImmutable(),
            QueuedCount = queued,
            LeasedCount = leased,
        };
    }

    private static (ImmutableSortedDictionary<string, GraphRecord> Graphs, ImmutableDictionary<string, ImmutableArray<GraphNodeRef>> Links) DecodeGraphs(
        SchedulerSnapshot snapshot, ImmutableSortedDictionary<string, OperationState>.Builder operations, SchedulerLimits limits)
    {
        var graphs = ImmutableSortedDictionary.CreateBuilder<string, GraphRecord>(StringComparer.Ordinal);
        var links = new Dictionary<string, ImmutableArray<GraphNodeRef>>(StringComparer.Ordinal);
        foreach (var state in snapshot.Graphs)
        {
            var graph = GraphRecord.FromProto(state, limits);
            if (!graphs.TryAdd(graph.Id, graph))
            {
                throw new InvalidDataException($"The scheduler snapshot holds graph {graph.Id} twice.");
            }

            for (var i = 0; i < graph.Nodes.Count; i++)
            {
                var node = graph.Nodes[i];
                if (node.Phase is not (GraphNodePhase.Queued or GraphNodePhase.Running))
                {
                    continue;
                }

                if (!operations.TryGetValue(node.OperationName, out var operation) || SchedulerState.IsFinished(operation.Phase))
                {
                    throw new InvalidDataException($"The scheduler snapshot's graph {graph.Id} node '{node.Id}' follows {node.OperationName}, which is not an unfinished operation.");
                }

                links[node.OperationName] = links.GetValueOrDefault(node.OperationName, ImmutableArray<GraphNodeRef>.Empty).Add(new GraphNodeRef(graph.Id, i));
            }
        }

        return (graphs.ToImmutable(), links.ToImmutableDictionary(StringComparer.Ordinal));
    }
}
