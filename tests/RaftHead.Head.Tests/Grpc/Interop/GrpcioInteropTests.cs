using System.Globalization;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using RaftHead.Protocol;
using RaftHead.Protocol.Client;
using Xunit.Abstractions;

namespace RaftHead.Head.Tests.Grpc.Interop;

/// <summary>Our server against grpcio's client, and our client against grpcio's server, on loopback.</summary>
public sealed class GrpcioInteropTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);
    private static readonly string[] ClientCases =
    {
        "bidi", "cancel", "client_streaming", "deadline", "error_details", "gzip", "large", "metadata", "server_streaming", "unary", "unimplemented",
    };

    private readonly ITestOutputHelper _output;

    public GrpcioInteropTests(ITestOutputHelper output)
    {
        _output = output;
    }

    [Fact]
    public async Task Grpcio_client_passes_every_case_against_our_server()
    {
        if (!await PythonPeer.AvailableAsync(_output))
        {
            return;
        }

        var service = new EchoService();
        await using var server = await EchoHost.StartAsync(service);

        await using var peer = PythonPeer.Start("client", $"127.0.0.1:{server.Port}");
        var exitCode = await peer.WaitForExitAsync(Bound);
        foreach (var line in peer.Seen)
        {
            _output.WriteLine(line);
        }

        foreach (var name in ClientCases)
        {
            Assert.Contains("PASS " + name, peer.Seen);
        }

        Assert.Equal(0, exitCode);

        // The peer's deadline and cancel must have reached our handlers, not just ended the peer's side.
        Assert.True(await service.SleepCancelled.Task.WaitAsync(Bound));
        await service.ChatCancelled.Task.WaitAsync(Bound);

        // And its compressed request arrived compressed, so the gzip case proved our decompression.
        Assert.Contains("gzip", service.EchoEncodings);
    }

    [Fact]
    public async Task Our_client_passes_every_case_against_a_grpcio_server()
    {
        if (!await PythonPeer.AvailableAsync(_output))
        {
            return;
        }

        await using var peer = PythonPeer.Start("serve");
        var listening = await peer.WaitForLineAsync("LISTENING ", Bound);
        var port = int.Parse(listening["LISTENING ".Length..], CultureInfo.InvariantCulture);
        using var channel = GrpcChannels.Create(EchoHost.Loopback(port), new GrpcChannelSettings { MaxReceiveMessageBytes = EchoHost.EchoLimitBytes });
        var client = new Echo.EchoClient(channel);

        // Unary, and a 16 MiB message each way.
        var small = EchoService.Payload(100);
        Assert.Equal(small.Value, (await client.EchoAsync(small).ResponseAsync.WaitAsync(Bound)).Value);
        var large = EchoService.Payload(16 * 1024 * 1024, seed: 3);
        var largeBack = await client.EchoAsync(large).ResponseAsync.WaitAsync(Bound);
        Assert.True(large.Value.Span.SequenceEqual(largeBack.Value.Span));

        // A gzip-compressed request.
        var packed = EchoService.Payload(64 * 1024);
        var unpacked = await client.EchoAsync(packed, new Metadata { { "grpc-internal-encoding-request", "gzip" } }).ResponseAsync.WaitAsync(Bound);
        Assert.True(packed.Value.Span.SequenceEqual(unpacked.Value.Span));

        // Server streaming.
        using (var stream = client.Repeat(new Int64Value { Value = 1000 }))
        {
            var n = 0;
            while (await stream.ResponseStream.MoveNext().WaitAsync(Bound))
            {
                Assert.Equal(n.ToString(CultureInfo.InvariantCulture), stream.ResponseStream.Current.Value.ToStringUtf8());
                n++;
            }

            Assert.Equal(1000, n);
        }

        // Client streaming.
        using (var sum = client.Sum())
        {
            for (var i = 1; i <= 100; i++)
            {
                await sum.RequestStream.WriteAsync(new Int64Value { Value = i }).WaitAsync(Bound);
            }

            await sum.RequestStream.CompleteAsync().WaitAsync(Bound);
            Assert.Equal(5050, (await sum.ResponseAsync.WaitAsync(Bound)).Value);
        }

        // Bidirectional, in lock step.
        using (var chat = client.Chat())
        {
            for (var i = 0; i < 20; i++)
            {
                await chat.RequestStream.WriteAsync(new StringValue { Value = "m" + i }).WaitAsync(Bound);
                Assert.True(await chat.ResponseStream.MoveNext().WaitAsync(Bound));
                Assert.Equal("echo:m" + i, chat.ResponseStream.Current.Value);
            }

            await chat.RequestStream.CompleteAsync().WaitAsync(Bound);
            Assert.False(await chat.ResponseStream.MoveNext().WaitAsync(Bound));
            Assert.Equal("CHAT ENDED cancelled=False", await peer.WaitForLineAsync("CHAT ENDED", Bound));
        }

        // Deadline: the peer must have received our grpc-timeout and been cancelled by it. Long enough that the call
        // reaches the handler on a loaded machine (grpcio never starts a handler for a call already past its deadline).
        var deadline = await Assert.ThrowsAsync<RpcException>(() => client.SleepAsync(
            Duration.FromTimeSpan(TimeSpan.FromSeconds(60)), deadline: DateTime.UtcNow.AddSeconds(3)).ResponseAsync).WaitAsync(Bound);
        Assert.Equal(StatusCode.DeadlineExceeded, deadline.StatusCode);
        var remaining = double.Parse((await peer.WaitForLineAsync("SLEEP remaining=", Bound))["SLEEP remaining=".Length..], CultureInfo.InvariantCulture);
        Assert.InRange(remaining, 0.0, 3.0);
        await peer.WaitForLineAsync("CANCELLED Sleep", Bound);

        // An error with typed details.
        const string message = "naïve 100% ✓ — missing\nblob";
        var failed = await Assert.ThrowsAsync<RpcException>(() => client.FailAsync(new StringValue { Value = message }).ResponseAsync).WaitAsync(Bound);
        Assert.Equal(StatusCode.FailedPrecondition, failed.StatusCode);
        Assert.Equal(message, failed.Status.Detail);
        Assert.Equal("blobs/abc/3", failed.GetDetail<Google.Rpc.PreconditionFailure>()!.Violations[0].Subject);
        Assert.Equal("digest", failed.GetDetail<Google.Rpc.BadRequest>()!.FieldViolations[0].Field);
        Assert.Equal(1500, failed.GetDetail<Google.Rpc.RetryInfo>()!.RetryDelay.ToTimeSpan().TotalMilliseconds);

        // Custom metadata, text and binary, both ways.
        using (var headers = client.HeadersAsync(new Empty(), new Metadata { { "x-tool", "bazel" }, { "x-blob-bin", new byte[] { 0, 255, 10, 13 } } }))
        {
            var seen = await headers.ResponseAsync.WaitAsync(Bound);
            Assert.Contains("x-tool=bazel;", seen.Value);
            Assert.Contains("x-blob-bin=00FF0A0D;", seen.Value);
            var trailers = headers.GetTrailers();
            Assert.Equal("t1", trailers.GetValue("x-trailer"));
            Assert.Equal(new byte[] { 0, 1, 2, 255 }, trailers.GetValueBytes("x-trailer-bin"));
        }

        // Cancellation of a running call reaches the peer's handler.
        var cancelled = client.Chat();
        await cancelled.RequestStream.WriteAsync(new StringValue { Value = "hello" }).WaitAsync(Bound);
        Assert.True(await cancelled.ResponseStream.MoveNext().WaitAsync(Bound));
        cancelled.Dispose();
        Assert.Equal("CHAT ENDED cancelled=True", await peer.WaitForLineAsync("CHAT ENDED", Bound));

        // An unknown method.
        var nope = new Method<Empty, Empty>(
            MethodType.Unary, "rafthead.test.Echo", "Nope", Marshallers.Create<Empty>(m => m.ToByteArray(), Empty.Parser.ParseFrom), Marshallers.Create<Empty>(m => m.ToByteArray(), Empty.Parser.ParseFrom));
        var unimplemented = await Assert.ThrowsAsync<RpcException>(
            () => channel.CreateCallInvoker().AsyncUnaryCall(nope, null, new CallOptions(), new Empty()).ResponseAsync).WaitAsync(Bound);
        Assert.Equal(StatusCode.Unimplemented, unimplemented.StatusCode);
    }
}
