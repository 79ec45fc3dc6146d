using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using RaftHead.Rpc.Server;

namespace RaftHead.Rpc.Tests;

/// <summary>
/// The service both our tests and the independent (Python grpcio) peer implement, built from well-known
/// types so either side can speak it without generated code.
/// </summary>
public sealed class EchoService
{
    public const string Name = "rafthead.test.Echo";

    public static readonly Method<BytesValue, BytesValue> Echo = new(Name, "Echo", MethodType.Unary, BytesValue.Parser, BytesValue.Parser, idempotent: true);

    /// <summary>Answers N messages "0".."N-1"; with a payload size in the request's high digits it pads each one.</summary>
    public static readonly Method<Int64Value, BytesValue> Repeat = new(Name, "Repeat", MethodType.ServerStreaming, Int64Value.Parser, BytesValue.Parser);

    public static readonly Method<Int64Value, Int64Value> Sum = new(Name, "Sum", MethodType.ClientStreaming, Int64Value.Parser, Int64Value.Parser);

    public static readonly Method<StringValue, StringValue> Chat = new(Name, "Chat", MethodType.DuplexStreaming, StringValue.Parser, StringValue.Parser);

    public static readonly Method<StringValue, Empty> Fail = new(Name, "Fail", MethodType.Unary, StringValue.Parser, Empty.Parser);

    public static readonly Method<Duration, Empty> Sleep = new(Name, "Sleep", MethodType.Unary, Duration.Parser, Empty.Parser);

    public static readonly Method<Empty, StringValue> Headers = new(Name, "Headers", MethodType.Unary, Empty.Parser, StringValue.Parser);

    /// <summary>Completed when a Sleep handler has begun, so a test can cancel a call the server really holds.</summary>
    public TaskCompletionSource SleepStarted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completed with the cancellation a Sleep handler observed (deadline or client cancel).</summary>
    public TaskCompletionSource<bool> SleepCancelled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completed when a Chat handler saw its call cancelled by the client.</summary>
    public TaskCompletionSource ChatCancelled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public static BytesValue Payload(int bytes, byte seed = 7)
    {
        var data = new byte[bytes];
        for (var i = 0; i < data.Length; i++)
        {
            data[i] = (byte)(seed + (i * 31));
        }

        return new BytesValue { Value = ByteString.CopyFrom(data) };
    }

    public ServiceDefinition Build(int echoMaxReceiveBytes = 0) => new ServiceBuilder(Name)
        .Unary(Echo, (request, _) => ValueTask.FromResult(request), echoMaxReceiveBytes)
        .ServerStreaming(Repeat, async (request, responses, context) =>
        {
            // Value = count + payloadBytes * 1_000_000.
            var count = request.Value % 1_000_000;
            var payloadBytes = (int)(request.Value / 1_000_000);
            var payload = payloadBytes > 0 ? Payload(payloadBytes).Value : null;
            for (var i = 0L; i < count; i++)
            {
                await responses.WriteAsync(new BytesValue { Value = payload ?? ByteString.CopyFromUtf8(i.ToString(System.Globalization.CultureInfo.InvariantCulture)) }, context.CancellationToken);
            }
        })
        .ClientStreaming(Sum, async (requests, context) =>
        {
            long total = 0;
            while (await requests.MoveNext(context.CancellationToken))
            {
                total += requests.Current.Value;
            }

            return new Int64Value { Value = total };
        })
        .DuplexStreaming(Chat, async (requests, responses, context) =>
        {
            try
            {
                while (await requests.MoveNext(context.CancellationToken))
                {
                    await responses.WriteAsync(new StringValue { Value = "echo:" + requests.Current.Value }, context.CancellationToken);
                }
            }
            catch (Exception) when (context.CancellationToken.IsCancellationRequested)
            {
                ChatCancelled.TrySetResult();
                throw;
            }
        })
        .Unary<StringValue, Empty>(Fail, (request, _) => throw RpcException.WithDetails(
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
            new Google.Rpc.RetryInfo { RetryDelay = Duration.FromTimeSpan(TimeSpan.FromMilliseconds(1500)) }))
        .Unary(Sleep, async (request, context) =>
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
        })
        .Unary(Headers, (_, context) =>
        {
            var text = new System.Text.StringBuilder();
            foreach (var entry in context.RequestHeaders)
            {
                if (entry.Key is "user-agent")
                {
                    continue;
                }

                text.Append(entry.Key).Append('=')
                    .Append(entry.IsBinary ? Convert.ToHexString(entry.BinaryValue!) : entry.TextValue)
                    .Append(';');
            }

            context.ResponseTrailers.Add("x-trailer", "t1");
            context.ResponseTrailers.Add("x-trailer-bin", new byte[] { 0, 1, 2, 255 });
            return ValueTask.FromResult(new StringValue { Value = text.ToString() });
        })
        .Build();
}
