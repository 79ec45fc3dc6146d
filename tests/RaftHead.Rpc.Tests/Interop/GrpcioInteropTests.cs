using System.Globalization;
using Google.Protobuf.WellKnownTypes;
using RaftHead.Rpc.Client;
using RaftHead.Rpc.Server;
using Xunit.Abstractions;

namespace RaftHead.Rpc.Tests.Interop;

/// <summary>Our server against grpcio's client, and our client against grpcio's server, on loopback.</summary>
public sealed class GrpcioInteropTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);
    private static readonly string[] ClientCases =
    {
        "bidi", "cancel", "client_streaming", "deadline", "error_details", "large", "metadata", "server_streaming", "unary", "unimplemented",
    };

    private readonly ITestOutputHelper _output;

    public GrpcioInteropTests(ITestOutputHelper output)
    {
        _output = output;
    }

    [Fact]
    public async Task Grpcio_client_passes_every_case_against_our_server()
    {
        if (!PythonPeer.Available(_output))
        {
            return;
        }

        var service = new EchoService();
        await using var server = new RpcServer(new RpcServerOptions(), new[] { service.Build(EchoServerFixture.EchoLimitBytes) });
        await server.StartAsync();

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
    }

    [Fact]
    public async Task Our_client_passes_every_case_against_a_grpcio_server()
    {
        if (!PythonPeer.Available(_output))
        {
            return;
        }

        await using var peer = PythonPeer.Start("serve");
        var listening = await peer.WaitForLineAsync("LISTENING ", Bound);
        var port = int.Parse(listening["LISTENING ".Length..], CultureInfo.InvariantCulture);
        using var channel = new RpcChannel($"127.0.0.1:{port}", new RpcChannelOptions { MaxReceiveMessageBytes = EchoServerFixture.EchoLimitBytes });

        // Unary, and a 16 MiB message each way.
        var small = EchoService.Payload(100);
        Assert.Equal(small.Value, (await channel.UnaryAsync(EchoService.Echo, small)).Value);
        var large = EchoService.Payload(16 * 1024 * 1024, seed: 3);
        var largeBack = await channel.UnaryAsync(EchoService.Echo, large).WaitAsync(Bound);
        Assert.True(large.Value.Span.SequenceEqual(largeBack.Value.Span));

        // Server streaming.
        using (var stream = channel.ServerStreaming(EchoService.Repeat, new Int64Value { Value = 1000 }))
        {
            var n = 0;
            while (await stream.ResponseStream.MoveNext())
            {
                Assert.Equal(n.ToString(CultureInfo.InvariantCulture), stream.ResponseStream.Current.Value.ToStringUtf8());
                n++;
            }

            Assert.Equal(1000, n);
        }

        // Client streaming.
        using (var sum = channel.ClientStreaming(EchoService.Sum))
        {
            for (var i = 1; i <= 100; i++)
            {
                await sum.RequestStream.WriteAsync(new Int64Value { Value = i });
            }

            await sum.RequestStream.CompleteAsync();
            Assert.Equal(5050, (await sum.ResponseAsync.WaitAsync(Bound)).Value);
        }

        // Bidirectional, in lock step.
        using (var chat = channel.DuplexStreaming(EchoService.Chat))
        {
            for (var i = 0; i < 20; i++)
            {
                await chat.RequestStream.WriteAsync(new StringValue { Value = "m" + i });
                Assert.True(await chat.ResponseStream.MoveNext().AsTask().WaitAsync(Bound));
                Assert.Equal("echo:m" + i, chat.ResponseStream.Current.Value);
            }

            await chat.RequestStream.CompleteAsync();
            Assert.False(await chat.ResponseStream.MoveNext().AsTask().WaitAsync(Bound));
            Assert.Equal("CHAT ENDED cancelled=False", await peer.WaitForLineAsync("CHAT ENDED", Bound));
        }

        // Deadline: the peer must have received our grpc-timeout and been cancelled by it.
        var deadline = await Assert.ThrowsAsync<RpcException>(() => channel.UnaryAsync(
            EchoService.Sleep, Duration.FromTimeSpan(TimeSpan.FromSeconds(60)), new CallOptions { Timeout = TimeSpan.FromMilliseconds(300) }));
        Assert.Equal(StatusCode.DeadlineExceeded, deadline.StatusCode);
        var remaining = double.Parse((await peer.WaitForLineAsync("SLEEP remaining=", Bound))["SLEEP remaining=".Length..], CultureInfo.InvariantCulture);
        Assert.InRange(remaining, 0.0, 0.3);
        await peer.WaitForLineAsync("CANCELLED Sleep", Bound);

        // An error with typed details.
        const string message = "naïve 100% ✓ — missing\nblob";
        var failed = await Assert.ThrowsAsync<RpcException>(() => channel.UnaryAsync(EchoService.Fail, new StringValue { Value = message }));
        Assert.Equal(StatusCode.FailedPrecondition, failed.StatusCode);
        Assert.Equal(message, failed.Status.Detail);
        Assert.Equal("blobs/abc/3", failed.GetDetail<Google.Rpc.PreconditionFailure>()!.Violations[0].Subject);
        Assert.Equal("digest", failed.GetDetail<Google.Rpc.BadRequest>()!.FieldViolations[0].Field);
        Assert.Equal(1500, failed.GetDetail<Google.Rpc.RetryInfo>()!.RetryDelay.ToTimeSpan().TotalMilliseconds);

        // Custom metadata, text and binary.
        var seen = await channel.UnaryAsync(EchoService.Headers, new Empty(), new CallOptions
        {
            Headers = new Metadata().Add("x-tool", "bazel").Add("x-blob-bin", new byte[] { 0, 255, 10, 13 }),
        });
        Assert.Contains("x-tool=bazel;", seen.Value);
        Assert.Contains("x-blob-bin=00FF0A0D;", seen.Value);

        // Cancellation of a running call reaches the peer's handler.
        var cancelled = channel.DuplexStreaming(EchoService.Chat);
        await cancelled.RequestStream.WriteAsync(new StringValue { Value = "hello" });
        Assert.True(await cancelled.ResponseStream.MoveNext().AsTask().WaitAsync(Bound));
        cancelled.Dispose();
        Assert.Equal("CHAT ENDED cancelled=True", await peer.WaitForLineAsync("CHAT ENDED", Bound));

        // An unknown method.
        var nope = new Method<Empty, Empty>(EchoService.Name, "Nope", MethodType.Unary, Empty.Parser, Empty.Parser);
        Assert.Equal(StatusCode.Unimplemented, (await Assert.ThrowsAsync<RpcException>(() => channel.UnaryAsync(nope, new Empty()))).StatusCode);
    }
}
