using System.Collections.Concurrent;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using RaftHead.Rpc;
using RaftHead.Rpc.Server;

namespace RaftHead.Bench;

/// <summary>The benchmark's service, built from well-known types like the tests' echo service.</summary>
internal static class BenchService
{
    public const string Name = "rafthead.bench.Bench";

    /// <summary>Largest message the streaming method will send, and the most messages per call.</summary>
    public const int MaxStreamMessageBytes = 4 * 1024 * 1024;

    public const int MaxStreamMessages = 1_000_000;

    public static readonly Method<BytesValue, BytesValue> Echo =
        new(Name, "Echo", MethodType.Unary, BytesValue.Parser, BytesValue.Parser);

    /// <summary>The same echo declared idempotent, so the channel runs it through its retry pipeline.</summary>
    public static readonly Method<BytesValue, BytesValue> EchoIdempotent =
        new(Name, "EchoIdempotent", MethodType.Unary, BytesValue.Parser, BytesValue.Parser, idempotent: true);

    /// <summary>Request: message count + message bytes * 1_000_000_000 (see <see cref="StreamRequest"/>).</summary>
    public static readonly Method<Int64Value, BytesValue> Download =
        new(Name, "Download", MethodType.ServerStreaming, Int64Value.Parser, BytesValue.Parser);

    private static readonly ConcurrentDictionary<int, BytesValue> Payloads = new();

    public static Int64Value StreamRequest(int messages, int messageBytes) =>
        new() { Value = messages + (messageBytes * 1_000_000_000L) };

    public static BytesValue Payload(int bytes) => Payloads.GetOrAdd(bytes, static n =>
    {
        var data = new byte[n];
        for (var i = 0; i < data.Length; i++)
        {
            data[i] = (byte)(7 + (i * 31));
        }

        return new BytesValue { Value = ByteString.CopyFrom(data) };
    });

    public static ServiceDefinition Build() => new ServiceBuilder(Name)
        .Unary(Echo, static (request, _) => ValueTask.FromResult(request))
        .Unary(EchoIdempotent, static (request, _) => ValueTask.FromResult(request))
        .ServerStreaming(Download, static async (request, responses, context) =>
        {
            var messages = (int)(request.Value % 1_000_000_000L);
            var messageBytes = (int)(request.Value / 1_000_000_000L);
            if (messages is < 0 or > MaxStreamMessages || messageBytes is < 0 or > MaxStreamMessageBytes)
            {
                throw new RpcException(StatusCode.InvalidArgument, $"At most {MaxStreamMessages} messages of {MaxStreamMessageBytes} bytes.");
            }

            var payload = Payload(messageBytes);
            for (var i = 0; i < messages; i++)
            {
                await responses.WriteAsync(payload, context.CancellationToken).ConfigureAwait(false);
            }
        })
        .Build();
}
