using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using RaftHead.Protocol;

namespace RaftHead.Head.Tests.Grpc;

/// <summary>
/// <c>rafthead.test.Echo</c> on grpc-dotnet. The signals let a test wait for what the handler saw instead of
/// sleeping: each is completed by the handler itself.
/// </summary>
internal sealed class EchoService : Echo.EchoBase
{
    /// <summary>How long a handler waits for its cancellation token after a read failed; a bound, not a pause.</summary>
    private static readonly TimeSpan TokenLag = TimeSpan.FromSeconds(10);

    private int _chatHalfClosed;

    /// <summary>Completed when a Sleep handler has begun, so a test can cancel a call the server really holds.</summary>
    public TaskCompletionSource SleepStarted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completed with the cancellation a Sleep handler observed (deadline or client cancel).</summary>
    public TaskCompletionSource<bool> SleepCancelled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completed when a Chat handler saw its call cancelled by the client.</summary>
    public TaskCompletionSource ChatCancelled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Chat calls whose client half-closed (ended its requests) rather than cancelled.</summary>
    public int ChatHalfClosed => Volatile.Read(ref _chatHalfClosed);

    /// <summary>Chat calls begun per peer (one peer is one connection).</summary>
    public ConcurrentDictionary<string, int> ChatPeers { get; } = new(StringComparer.Ordinal);

    /// <summary>The <c>grpc-encoding</c> of every Echo request, "identity" when absent.</summary>
    public ConcurrentQueue<string> EchoEncodings { get; } = new();

    public static BytesValue Payload(int bytes, byte seed = 7)
    {
        var data = new byte[bytes];
        for (var i = 0; i < data.Length; i++)
        {
            data[i] = (byte)(seed + (i * 31));
        }

        return new BytesValue { Value = UnsafeByteOperations.UnsafeWrap(data) };
    }

    public override Task<BytesValue> Echo(BytesValue request, ServerCallContext context)
    {
        // grpc-dotnet keeps grpc-* headers out of RequestHeaders; the HTTP request still carries them.
        var encoding = context.GetHttpContext().Request.Headers["grpc-encoding"].ToString();
        EchoEncodings.Enqueue(encoding.Length == 0 ? "identity" : encoding);
        return Task.FromResult(request);
    }

    public override async Task Repeat(Int64Value request, IServerStreamWriter<BytesValue> responseStream, ServerCallContext context)
    {
        var count = request.Value % 1_000_000;
        var payloadBytes = (int)(request.Value / 1_000_000);
        var payload = payloadBytes > 0 ? Payload(payloadBytes).Value : null;
        for (var i = 0L; i < count; i++)
        {
            await responseStream.WriteAsync(new BytesValue { Value = payload ?? ByteString.CopyFromUtf8(i.ToString(CultureInfo.InvariantCulture)) }, context.CancellationToken);
        }
    }

    public override async Task<Int64Value> Sum(IAsyncStreamReader<Int64Value> requestStream, ServerCallContext context)
    {
        long total = 0;
        while (await requestStream.MoveNext(context.CancellationToken))
        {
            total += requestStream.Current.Value;
        }

        return new Int64Value { Value = total };
    }

    public override async Task Chat(IAsyncStreamReader<StringValue> requestStream, IServerStreamWriter<StringValue> responseStream, ServerCallContext context)
    {
        ChatPeers.AddOrUpdate(context.Peer, 1, (_, n) => n + 1);
        try
        {
            while (await requestStream.MoveNext(context.CancellationToken))
            {
                await responseStream.WriteAsync(new StringValue { Value = "echo:" + requestStream.Current.Value }, context.CancellationToken);
            }

            Interlocked.Increment(ref _chatHalfClosed);
        }
        catch (Exception)
        {
            if (await CancelledAsync(context.CancellationToken))
            {
                ChatCancelled.TrySetResult();
            }

            throw;
        }
    }

    public override Task<Empty> Fail(StringValue request, ServerCallContext context) => throw StatusDetails.Exception(
        StatusCode.FailedPrecondition,
        request.Value,
        new Google.Rpc.PreconditionFailure
        {
            Violations = { new Google.Rpc.PreconditionFailure.Types.Violation { Type = "MISSING", Subject = "blobs/abc/3", Description = "not here" } },
        },
        new Google.Rpc.BadRequest
        {
            FieldViolations = { new Google.Rpc.BadRequest.Types.FieldViolation { Field = "digest", Description = "bad" } },
        },
        new Google.Rpc.RetryInfo { RetryDelay = Duration.FromTimeSpan(TimeSpan.FromMilliseconds(1500)) });

    public override async Task<Empty> Sleep(Duration request, ServerCallContext context)
    {
        SleepStarted.TrySetResult();
        try
        {
            await Task.Delay(request.ToTimeSpan(), context.CancellationToken);
        }
        catch (OperationCanceledException)
        {
            SleepCancelled.TrySetResult(true);
            throw;
        }

        return new Empty();
    }

    public override Task<StringValue> Headers(Empty request, ServerCallContext context)
    {
        var text = new StringBuilder();
        foreach (var entry in context.RequestHeaders)
        {
            if (entry.Key is "user-agent")
            {
                continue;
            }

            text.Append(entry.Key).Append('=')
                .Append(entry.IsBinary ? Convert.ToHexString(entry.ValueBytes) : entry.Value)
                .Append(';');
        }

        context.ResponseTrailers.Add("x-trailer", "t1");
        context.ResponseTrailers.Add("x-trailer-bin", new byte[] { 0, 1, 2, 255 });
        return Task.FromResult(new StringValue { Value = text.ToString() });
    }

    public override async Task<Int64Value> Upload(IAsyncStreamReader<BytesValue> requestStream, ServerCallContext context)
    {
        long total = 0;
        while (await requestStream.MoveNext(context.CancellationToken))
        {
            total += requestStream.Current.Value.Length;
        }

        return new Int64Value { Value = total };
    }

    /// <summary>
    /// Whether the call's token is (or soon becomes) cancelled. Kestrel fails a pending read on a client's
    /// RST_STREAM before it raises RequestAborted, which it queues to the thread pool, so the token may trail the
    /// exception that ended the read.
    /// </summary>
    private static async Task<bool> CancelledAsync(CancellationToken token)
    {
        var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (token.Register(() => cancelled.TrySetResult()))
        {
            return await Task.WhenAny(cancelled.Task, Task.Delay(TokenLag, CancellationToken.None)) == cancelled.Task;
        }
    }
}
