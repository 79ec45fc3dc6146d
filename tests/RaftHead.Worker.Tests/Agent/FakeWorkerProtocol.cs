using System.Collections.Concurrent;
using System.Threading.Channels;
using Grpc.Core;
using RaftHead.Protocol.V1;

namespace RaftHead.Worker.Tests.Agent;

/// <summary>The head's side of the worker protocol, in memory: leases handed out from a queue, reports recorded.</summary>
internal sealed class FakeWorkerProtocol : WorkerProtocol.WorkerProtocolBase
{
    public uint HeartbeatIntervalMs { get; init; } = 50;

    public Channel<WorkLease> Pending { get; } = Channel.CreateUnbounded<WorkLease>();

    public ConcurrentQueue<WorkerRegisterRequest> Registrations { get; } = new();

    public Channel<WorkerCompleteRequest> Completions { get; } = Channel.CreateUnbounded<WorkerCompleteRequest>();

    public Channel<WorkerFailRequest> Failures { get; } = Channel.CreateUnbounded<WorkerFailRequest>();

    /// <summary>Leases the next heartbeat that lists them tells the worker to stop.</summary>
    public ConcurrentDictionary<(string Operation, uint Attempt), bool> ToCancel { get; } = new();

    /// <summary>The last heartbeat's running leases.</summary>
    public IReadOnlyList<LeaseRef> LastRunning { get; private set; } = Array.Empty<LeaseRef>();

    public override Task<WorkerRegisterResponse> Register(WorkerRegisterRequest request, ServerCallContext context)
    {
        Registrations.Enqueue(request);
        return Task.FromResult(new WorkerRegisterResponse { HeartbeatIntervalMs = HeartbeatIntervalMs, HeartbeatTtlMs = HeartbeatIntervalMs * 10 });
    }

    public override async Task<WorkerLeaseResponse> Lease(WorkerLeaseRequest request, ServerCallContext context)
    {
        var response = new WorkerLeaseResponse();
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken);
        wait.CancelAfter(TimeSpan.FromMilliseconds(request.WaitMs));
        try
        {
            while (response.Leases.Count == 0 && await Pending.Reader.WaitToReadAsync(wait.Token))
            {
                if (Pending.Reader.TryRead(out var lease))
                {
                    response.Leases.Add(lease);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }

        return response;
    }

    public override Task<WorkerHeartbeatResponse> Heartbeat(WorkerHeartbeatRequest request, ServerCallContext context)
    {
        LastRunning = request.Running.ToArray();
        var response = new WorkerHeartbeatResponse();
        foreach (var running in request.Running)
        {
            if (ToCancel.ContainsKey((running.OperationName, running.Attempt)))
            {
                response.Cancel.Add(running);
            }
        }

        return Task.FromResult(response);
    }

    private int _completionsToRefuse;
    private int _completionsRefused;

    /// <summary>Complete calls still to be refused as a busy head does (RESOURCE_EXHAUSTED), before any is taken.</summary>
    public int CompletionsToRefuse
    {
        get => Volatile.Read(ref _completionsToRefuse);
        set => Volatile.Write(ref _completionsToRefuse, value);
    }

    /// <summary>Complete calls refused so far.</summary>
    public int CompletionsRefused => Volatile.Read(ref _completionsRefused);

    public override Task<WorkerCompleteResponse> Complete(WorkerCompleteRequest request, ServerCallContext context)
    {
        if (Interlocked.Decrement(ref _completionsToRefuse) >= 0)
        {
            Interlocked.Increment(ref _completionsRefused);
            throw new RpcException(new Status(StatusCode.ResourceExhausted, "the log is busy; retry shortly"));
        }

        Completions.Writer.TryWrite(request);
        return Task.FromResult(new WorkerCompleteResponse { Accepted = true });
    }

    public override Task<WorkerFailResponse> Fail(WorkerFailRequest request, ServerCallContext context)
    {
        Failures.Writer.TryWrite(request);
        return Task.FromResult(new WorkerFailResponse { Accepted = true });
    }
}
