using System.Globalization;
using RaftHead.Head.Scheduling;
using RaftHead.Protocol.V1;
using static RaftHead.Head.Tests.Scheduling.Commands;

namespace RaftHead.Head.Tests.Scheduling;

/// <summary>
/// A seeded proposer: a leader's mix of client submits, placement plans, worker reports, failures, cancels, worker
/// churn, cache updates and prunes, with a share of stale and invalid commands, as they reach the log. It reads the
/// state only to pick plausible targets (as a leader does); the same seed gives the same stream.
/// </summary>
internal sealed class RandomCommandStream
{
    private static readonly string[] Invocations = ["inv-a", "inv-b", "inv-c", "inv-d"];
    private static readonly string[] WorkerIds = ["w0", "w1", "w2", "w3", "w4", "w5"];
    private static readonly uint[] GpuChoices = [0, 0, 0, 0, 300, 500, 1_000, 2_000, 150];
    private readonly Random _random;
    private readonly List<(string RequestId, string Action)> _requests = new();
    private long _nowUnixMs = 1_000;

    public RandomCommandStream(int seed)
    {
        _random = new Random(seed);
    }

    public SchedulerCommand Next(SchedulerState view)
    {
        _nowUnixMs += _random.Next(0, 60);
        var roll = _random.Next(118);
        return roll switch
        {
            < 28 => NewSubmit(view),
            < 32 => RepeatedSubmit(),
            < 46 => PlanOrStaleGrant(view),
            < 60 => CompleteSome(view),
            < 67 => FailSome(view),
            < 70 => Cancel(Pick(view.Operations.Keys) ?? "operations/1", _nowUnixMs),
            < 72 => DeadLetter(Pick(view.Operations.Keys) ?? "operations/1", "poison " + _random.Next(5).ToString(CultureInfo.InvariantCulture), _nowUnixMs),
            < 79 => RandomRegister(),
            < 81 => Retire(WorkerIds[_random.Next(WorkerIds.Length)]),
            < 84 => Dead(WorkerIds[_random.Next(WorkerIds.Length)], "silent", _nowUnixMs, _nowUnixMs + _random.Next(0, 300)),
            < 88 => CacheUpdate("act" + _random.Next(40).ToString(CultureInfo.InvariantCulture), exitCode: 0, at: _nowUnixMs),
            < 91 => Prune(_nowUnixMs - _random.Next(0, 800), (uint)_random.Next(0, 6)),
            < 95 => ExpireSome(view),
            < 100 => Garbage(),
            < 102 => NewGraph(),
            < 106 => StartOrFailReadyNode(view),
            < 108 => CancelGraph(Pick(view.Graphs.Keys) ?? "g0", at: _nowUnixMs),
            < 113 => CloneSome(view),
            < 115 => FailClone(view),
            < 116 => Quarantine(WorkerIds[_random.Next(WorkerIds.Length)], "corrupt " + _random.Next(3).ToString(CultureInfo.InvariantCulture), _nowUnixMs),
            _ => Release(WorkerIds[_random.Next(WorkerIds.Length)], _nowUnixMs),
        };
    }

    private SchedulerCommand NewSubmit(SchedulerState? view = null)
    {
        var action = "act" + _random.Next(40).ToString(CultureInfo.InvariantCulture);
        var requestId = "req" + _requests.Count.ToString(CultureInfo.InvariantCulture);
        _requests.Add((requestId, action));
        var platform = _random.Next(4) switch
        {
            0 => Platform("os=linux"),
            1 => Platform("os=Linux", "arch=x86_64"),
            2 => Platform("os=mac"),
            _ => null,
        };
        var submit = Submit(
            requestId,
            action: action,
            at: _nowUnixMs,
            invocation: Invocations[_random.Next(Invocations.Length)],
            priority: _random.Next(-1, 2),
            platform: platform,
            gpuMillis: GpuChoices[_random.Next(GpuChoices.Length)],
            cpuMillis: (uint)(_random.Next(3) * 1_000),
            doNotCache: _random.Next(10) == 0,
            skipCacheLookup: _random.Next(10) == 0,
            seed: _random.Next(2) == 0 ? "" : "s1");
        if (view is not null && _random.Next(12) == 0 && Pick(view.Operations.Keys) is { } verified)
        {
            // A verification run of some operation (the leader's sample), which must be do_not_cache.
            submit.Submit.Verifies = verified;
            submit.Submit.DoNotCache = _random.Next(6) != 0;
        }

        return submit;
    }

    /// <summary>A request id again: usually the same action (a client retry), sometimes another (a client bug).</summary>
    private SchedulerCommand RepeatedSubmit()
    {
        if (_requests.Count == 0)
        {
            return NewSubmit();
        }

        var (requestId, action) = _requests[_random.Next(_requests.Count)];
        return Submit(requestId, action: _random.Next(5) == 0 ? action + "x" : action, at: _nowUnixMs);
    }

    private SchedulerCommand PlanOrStaleGrant(SchedulerState view)
    {
        var grants = Placement.Plan(view, _nowUnixMs, leaseTtlMs: _random.Next(200, 3_000), grantsMax: _random.Next(1, 8));
        if (grants.Count > 0 && _random.Next(5) != 0)
        {
            return Assign(_nowUnixMs, grants);
        }

        // A plan made on an older state, or plain wrong: the apply must refuse what no longer holds.
        var operation = Pick(view.Operations.Keys) ?? "operations/1";
        return Assign(_nowUnixMs, (operation, WorkerIds[_random.Next(WorkerIds.Length)], (uint)_random.Next(0, 4)));
    }

    private SchedulerCommand CompleteSome(SchedulerState view)
    {
        var leased = Leased(view);
        if (leased is null)
        {
            return NewSubmit();
        }

        if (_random.Next(4) == 0)
        {
            // Workers finishing together, as the leader batches them: the same report twice in one batch too, so the
            // second part must see the state the first left.
            var batch = new CompleteBatch();
            for (var parts = _random.Next(1, 5); parts > 0; parts--)
            {
                batch.Completions.Add(CompleteOne(Leased(view) ?? leased).Complete);
            }

            return new SchedulerCommand { Version = SchedulerStateMachine.CommandVersion, CompleteBatch = batch };
        }

        return CompleteOne(leased);
    }

    private SchedulerCommand CompleteOne(OperationState leased)
    {
        var exitCode = _random.Next(4) == 0 ? 1 : 0;
        if (_random.Next(6) == 0)
        {
            // A late or confused report: another worker or attempt.
            return Complete(leased.Name, WorkerIds[_random.Next(WorkerIds.Length)], (uint)_random.Next(1, 4), exitCode, _nowUnixMs);
        }

        // Sometimes an earlier attempt's result, when there was one.
        var attempt = leased.Attempts[_random.Next(leased.Attempts.Count)];
        return Complete(leased.Name, attempt.WorkerId, attempt.Attempt, exitCode, _nowUnixMs, statusCode: _random.Next(8) == 0 ? 4 : 0);
    }

    private SchedulerCommand FailSome(SchedulerState view)
    {
        var leased = Leased(view);
        return leased is null
            ? NewSubmit()
            : Fail(leased.Name, leased.Lease.WorkerId, leased.Attempt, "worker error " + _random.Next(3).ToString(CultureInfo.InvariantCulture), _nowUnixMs, _nowUnixMs + _random.Next(0, 200));
    }

    /// <summary>A speculative clone of a running operation, usually well formed, sometimes stale or on its own worker.</summary>
    private SchedulerCommand CloneSome(SchedulerState view)
    {
        var leased = Leased(view);
        if (leased is null)
        {
            return NewSubmit();
        }

        var attempt = _random.Next(5) == 0 ? (uint)_random.Next(0, 5) : (uint)leased.Attempts.Count + 1;
        return Clone(_nowUnixMs, leased.Name, WorkerIds[_random.Next(WorkerIds.Length)], attempt, ttlMs: _random.Next(200, 3_000));
    }

    private SchedulerCommand FailClone(SchedulerState view)
    {
        var cloned = view.Operations.Values.Where(o => o.CloneLease is not null).ToList();
        if (cloned.Count == 0)
        {
            return CloneSome(view);
        }

        var operation = cloned[_random.Next(cloned.Count)];
        return Fail(operation.Name, operation.CloneLease.WorkerId, operation.CloneAttempt, "clone error", _nowUnixMs);
    }

    private SchedulerCommand ExpireSome(SchedulerState view)
    {
        var expired = view.ExpiredLeases(_nowUnixMs);
        if (expired.Count == 0)
        {
            return FailSome(view);
        }

        var operation = expired[_random.Next(expired.Count)];
        return Fail(operation.Operation.Name, operation.Lease.WorkerId, operation.Attempt, "lease expired", _nowUnixMs, _nowUnixMs + _random.Next(0, 200));
    }

    private SchedulerCommand RandomRegister()
    {
        var platform = _random.Next(3) switch
        {
            0 => Platform("os=linux", "arch=x86_64"),
            1 => Platform("os=mac"),
            _ => Platform("os=linux"),
        };
        return Register(
            WorkerIds[_random.Next(WorkerIds.Length)],
            slots: (uint)_random.Next(1, 5),
            gpus: (uint)_random.Next(0, 3),
            cpuMillis: (uint)(_random.Next(2) * 4_000),
            platform: platform,
            at: _nowUnixMs,
            leaseAhead: (uint)_random.Next(0, 3));
    }

    /// <summary>A small random graph (sometimes malformed, sometimes a repeated id), its actions drawn from the shared pool so nodes join and hit the cache.</summary>
    private SchedulerCommand NewGraph()
    {
        var id = "g" + _random.Next(12).ToString(CultureInfo.InvariantCulture);
        var count = _random.Next(1, 6);
        var specs = new string[count];
        for (var i = 0; i < count; i++)
        {
            var producers = Enumerable.Range(0, i).Where(_ => _random.Next(3) == 0).Select(p => "n" + p.ToString(CultureInfo.InvariantCulture)).ToList();
            if (i > 0 && _random.Next(15) == 0)
            {
                producers.Add("n" + (i + 1).ToString(CultureInfo.InvariantCulture));
            }

            specs[i] = "n" + i.ToString(CultureInfo.InvariantCulture) + (producers.Count > 0 ? "<-" + string.Join(',', producers) : "");
        }

        return SubmitGraph(Graph(id, specs), at: _nowUnixMs);
    }

    /// <summary>The leader starting a ready node (or failing its composition), sometimes with a stale run count.</summary>
    private SchedulerCommand StartOrFailReadyNode(SchedulerState view)
    {
        var ready = view.Graphs.Values.SelectMany(g => g.Ready.Select(i => (Graph: g, Node: g.Nodes[i]))).ToList();
        if (ready.Count == 0)
        {
            return NewGraph();
        }

        var (graph, node) = ready[_random.Next(ready.Count)];
        var runs = _random.Next(8) == 0 ? node.Runs + 1 : node.Runs;
        var producers = graph.Topology.Producers[graph.Topology.IndexOf[node.Id]];
        if (producers.Length > 0 && _random.Next(6) == 0)
        {
            return Regenerate(graph.Id, node.Id, runs, _nowUnixMs, graph.Nodes[producers[_random.Next(producers.Length)]].Id);
        }

        return _random.Next(8) == 0
            ? FailNode(graph.Id, node.Id, "composition failed", runs, _nowUnixMs)
            : StartNode(graph.Id, node.Id, runs, action: "act" + _random.Next(40).ToString(CultureInfo.InvariantCulture), at: _nowUnixMs);
    }

    private SchedulerCommand Garbage() => _random.Next(3) switch
    {
        0 => new SchedulerCommand { Version = SchedulerStateMachine.CommandVersion },
        1 => new SchedulerCommand { Version = 99, Cancel = new CancelOperation { OperationName = "operations/1" } },
        _ => Submit(""),
    };

    private OperationState? Leased(SchedulerState view)
    {
        var leased = view.Operations.Values.Where(o => o.Phase == OperationPhase.Leased).ToList();
        return leased.Count == 0 ? null : leased[_random.Next(leased.Count)];
    }

    private string? Pick(IEnumerable<string> names)
    {
        var list = names.ToList();
        return list.Count == 0 ? null : list[_random.Next(list.Count)];
    }
}
