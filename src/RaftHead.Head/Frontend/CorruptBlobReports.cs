using System.Collections.Concurrent;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using RaftHead.Head.Reapi;
using RaftHead.Head.Scheduling;
using RaftHead.Protocol.V1;

namespace RaftHead.Head.Frontend;

/// <summary>
/// The leader's answer to a worker that says a peer sent it a blob whose bytes did not match the digest
/// (<see cref="WorkerHeartbeatRequest.CorruptBlobs"/>): the peer's endpoint names the worker that registered it, and a
/// QuarantineWorker is proposed for that worker, with the blob, the reporter and what the bytes hashed to as its
/// reason. The peer's disk or memory is bad, so what it runs and serves is not trusted either.
/// <para>
/// Only heartbeats reach it, and only the leader takes them, so the endpoint map (<see cref="WorkerSoftState"/>, the
/// leader's soft state) is the one the workers registered with. The heartbeat is never held up: the proposal runs
/// apart, at most one per accused worker and <see cref="ProposalsInFlightMax"/> in all; a worker already quarantined is
/// not proposed again. Ignored, and logged: a report naming an endpoint no (or more than one) worker registered, and a
/// worker's report about itself. A worker itself quarantined is not believed alone, as its own bad memory may be what
/// failed the check: its accusation waits (bounded, <see cref="DoubtedMax"/>) until another quarantined worker accuses
/// the same worker (a worker in good standing is believed at once). A proposal the log refuses (a leader change) is
/// not retried: the peer is still suspect at the reporter, and its next bad blob to anyone is reported again.
/// </para>
/// </summary>
public sealed class CorruptBlobReports
{
    /// <summary>Reports read from one heartbeat at most; the rest of it is dropped (a worker sends no more).</summary>
    public const int ReportsPerBeatMax = 64;

    /// <summary>Quarantine proposals under way at once at most; a report beyond it is dropped (and logged).</summary>
    public const int ProposalsInFlightMax = 16;

    /// <summary>What the reason keeps of a reporter's detail: the reason lives in the replicated state.</summary>
    public const int DetailCharsMax = 256;

    /// <summary>Accusations from quarantined workers kept waiting for a second one at most.</summary>
    public const int DoubtedMax = 1_024;

    /// <summary>One proposal may take this long before it is given up.</summary>
    public const int ProposalTimeoutMs = 30_000;

    private readonly SchedulerFrontend _frontend;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, byte> _inFlight = new(StringComparer.Ordinal);

    /// <summary>Workers accused by one quarantined worker: the first accuser of each, until a second one confirms it.</summary>
    private readonly ConcurrentDictionary<string, string> _doubted = new(StringComparer.Ordinal);
    private long _proposed;
    private long _quarantined;
    private long _ignored;
    private int _inFlightCount;

    internal CorruptBlobReports(SchedulerFrontend frontend, ILogger? logger = null)
    {
        _frontend = frontend ?? throw new ArgumentNullException(nameof(frontend));
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>Quarantine proposals started.</summary>
    public long Proposed => Interlocked.Read(ref _proposed);

    /// <summary>Proposals the log applied with OK.</summary>
    public long Quarantined => Interlocked.Read(ref _quarantined);

    /// <summary>Reports that led to no proposal (unknown endpoint, self, a quarantined reporter, already quarantined or in flight, over a bound).</summary>
    public long Ignored => Interlocked.Read(ref _ignored);

    /// <summary>Proposals under way now.</summary>
    public int InFlight => Volatile.Read(ref _inFlightCount);

    /// <summary>
    /// Takes a heartbeat's reports (on the leader, for a beat it accepted). INVALID_ARGUMENT naming the field when a
    /// report has no endpoint or a malformed digest, before any is acted on.
    /// </summary>
    public void Accept(WorkerHeartbeatRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var reports = request.CorruptBlobs;
        if (reports.Count == 0)
        {
            return;
        }

        for (var i = 0; i < reports.Count; i++)
        {
            if (reports[i].PeerEndpoint.Length == 0)
            {
                throw ReapiErrors.InvalidArgument($"corrupt_blobs[{i}].peer_endpoint", "must name the peer the blob was read from (host:port)");
            }

            ReapiErrors.CheckDigest(reports[i].Digest, $"corrupt_blobs[{i}].digest");
        }

        var state = _frontend.Log.Current;
        var reporter = state.FindWorker(request.WorkerId);
        if (reporter is null || !_frontend.Workers.IsIncarnation(request.WorkerId, request.Incarnation))
        {
            // It is told to register again; it sends them again then.
            Interlocked.Add(ref _ignored, reports.Count);
            return;
        }

        if (reports.Count > ReportsPerBeatMax)
        {
            Interlocked.Add(ref _ignored, reports.Count - ReportsPerBeatMax);
            _logger.LogWarning("Worker {Reporter} reported {Count} corrupt blobs in one heartbeat; only the first {Max} are read", request.WorkerId, reports.Count, ReportsPerBeatMax);
        }

        var matches = new List<string>(1);
        var count = Math.Min(reports.Count, ReportsPerBeatMax);
        for (var i = 0; i < count; i++)
        {
            Consider(state, request.WorkerId, reporter.QuarantineReason.Length > 0, reports[i], matches);
        }
    }

    private void Consider(SchedulerState state, string reporterId, bool reporterQuarantined, CorruptBlobReport report, List<string> matches)
    {
        var digest = SchedulerFrontend.Format(report.Digest);
        matches.Clear();
        _frontend.Workers.WorkersAtPeerEndpoint(report.PeerEndpoint, matches);
        string? accusedId = null;
        var registered = 0;
        foreach (var id in matches)
        {
            // A worker forgotten by the state but not yet by the soft state holds no claim on the address.
            if (state.FindWorker(id) is not null)
            {
                accusedId = id;
                registered++;
            }
        }

        if (registered != 1)
        {
            Interlocked.Increment(ref _ignored);
            _logger.LogWarning("Worker {Reporter} reported blob {Digest} from {Peer} corrupt; ignored: {Count} registered workers serve peers there", reporterId, digest, report.PeerEndpoint, registered);
            return;
        }

        if (accusedId == reporterId)
        {
            Interlocked.Increment(ref _ignored);
            _logger.LogWarning("Worker {Reporter} reported blob {Digest} from {Peer} corrupt; ignored: that is its own endpoint", reporterId, digest, report.PeerEndpoint);
            return;
        }

        var accused = state.FindWorker(accusedId!)!;
        if (accused.QuarantineReason.Length > 0)
        {
            Interlocked.Increment(ref _ignored);
            _logger.LogDebug("Worker {Reporter} reported blob {Digest} from worker {Accused} corrupt; it is quarantined already", reporterId, digest, accusedId);
            return;
        }

        string? corroboratedBy = null;
        if (reporterQuarantined && !Corroborated(accusedId!, reporterId, digest, out corroboratedBy))
        {
            return;
        }

        if (Interlocked.Increment(ref _inFlightCount) > ProposalsInFlightMax)
        {
            Interlocked.Decrement(ref _inFlightCount);
            Interlocked.Increment(ref _ignored);
            _logger.LogWarning("Worker {Reporter} reported blob {Digest} from {Peer} corrupt; dropped: {Count} quarantine proposals are under way", reporterId, digest, report.PeerEndpoint, ProposalsInFlightMax);
            return;
        }

        if (!_inFlight.TryAdd(accusedId!, 0))
        {
            Interlocked.Decrement(ref _inFlightCount);
            Interlocked.Increment(ref _ignored);
            _logger.LogDebug("Worker {Reporter} reported blob {Digest} from worker {Accused} corrupt; its quarantine is being proposed already", reporterId, digest, accusedId);
            return;
        }

        var detail = report.Detail.Length == 0 ? "no detail given" : report.Detail.Length <= DetailCharsMax ? report.Detail : report.Detail[..DetailCharsMax];
        var quarantine = new QuarantineWorker
        {
            WorkerId = accusedId,
            Reason = corroboratedBy is null
                ? $"sent a corrupt blob {digest} to worker {reporterId} ({detail})"
                : $"sent a corrupt blob {digest} to worker {reporterId} ({detail}); both it and worker {corroboratedBy}, which reported it before, are quarantined",
            AtUnixMs = _frontend.NowUnixMs,
        };
        Interlocked.Increment(ref _proposed);

        // Runs apart from the heartbeat; it observes every outcome itself and leaves the in-flight set when done.
        _ = ProposeAsync(quarantine, reporterId);
    }

    /// <summary>
    /// True when another quarantined worker accused <paramref name="accusedId"/> before (naming it in
    /// <paramref name="earlier"/>); else the accusation is kept (bounded) for the next one and false.
    /// </summary>
    private bool Corroborated(string accusedId, string reporterId, string digest, out string? earlier)
    {
        if (_doubted.TryGetValue(accusedId, out earlier) && earlier != reporterId && _doubted.TryRemove(KeyValuePair.Create(accusedId, earlier)))
        {
            return true;
        }

        earlier = null;
        Interlocked.Increment(ref _ignored);
        if (_doubted.Count < DoubtedMax)
        {
            _doubted.TryAdd(accusedId, reporterId);
        }

        _logger.LogWarning(
            "Worker {Reporter}, itself quarantined, reported blob {Digest} from worker {Accused} corrupt; not acted on until another quarantined worker reports it too",
            reporterId, digest, accusedId);
        return false;
    }

    private async Task ProposeAsync(QuarantineWorker quarantine, string reporterId)
    {
        try
        {
            await Task.Yield();
            using var timeout = new CancellationTokenSource(TimeSpan.FromMilliseconds(ProposalTimeoutMs), _frontend.Time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, _frontend.Stopping);
            var result = await _frontend.ProposeAsync(new SchedulerCommand { QuarantineWorker = quarantine }, linked.Token, refusalIsAnswer: true).ConfigureAwait(false);
            if (result.Code == SchedulerResultCode.Ok)
            {
                Interlocked.Increment(ref _quarantined);
                _logger.LogWarning("Worker {Accused} quarantined on the report of worker {Reporter}: {Reason}", quarantine.WorkerId, reporterId, quarantine.Reason);
            }
            else
            {
                _logger.LogWarning("Quarantine of worker {Accused} (reported by {Reporter}) refused: {Code} {Message}", quarantine.WorkerId, reporterId, result.Code, result.Message);
            }
        }
        catch (OperationCanceledException) when (_frontend.Stopping.IsCancellationRequested)
        {
        }
        catch (Exception e) when (e is RpcException or OperationCanceledException)
        {
            // Leadership moved, the log is busy, or the proposal took too long: the reporter keeps the peer suspect.
            _logger.LogWarning("Quarantine of worker {Accused} (reported by {Reporter}) not proposed: {Error}", quarantine.WorkerId, reporterId, e.Message);
        }
        catch (Exception e)
        {
            _logger.LogError(e, "Quarantine of worker {Accused} (reported by {Reporter}) failed", quarantine.WorkerId, reporterId);
        }
        finally
        {
            _inFlight.TryRemove(quarantine.WorkerId, out _);
            Interlocked.Decrement(ref _inFlightCount);
        }
    }
}
