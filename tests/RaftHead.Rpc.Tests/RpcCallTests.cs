using System.Net;
using System.Net.Http.Headers;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using RaftHead.Rpc.Client;

namespace RaftHead.Rpc.Tests;

public sealed class RpcCallTests : IClassFixture<EchoServerFixture>
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);
    private readonly EchoServerFixture _fixture;

    public RpcCallTests(EchoServerFixture fixture)
    {
        _fixture = fixture;
    }

    private RpcChannel Channel => _fixture.Channel;

    [Fact]
    public async Task Unary_call_returns_the_servers_answer()
    {
        var request = EchoService.Payload(100);
        var response = await Channel.UnaryAsync(EchoService.Echo, request);
        Assert.Equal(request.Value, response.Value);
    }

    [Fact]
    public async Task A_16_MiB_message_travels_both_ways_where_the_method_allows_it()
    {
        var request = EchoService.Payload(16 * 1024 * 1024, seed: 3);
        var response = await Channel.UnaryAsync(EchoService.Echo, request).WaitAsync(Bound);
        Assert.Equal(request.Value.Length, response.Value.Length);
        Assert.True(request.Value.Span.SequenceEqual(response.Value.Span));
    }

    [Fact]
    public async Task A_message_over_the_servers_receive_limit_is_refused_with_resource_exhausted()
    {
        // Chat keeps the server's 4 MiB default.
        using var call = Channel.DuplexStreaming(EchoService.Chat);
        var big = new StringValue { Value = new string('x', 4 * 1024 * 1024 + 1) };
        var error = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await call.RequestStream.WriteAsync(big);
            await call.RequestStream.CompleteAsync();
            while (await call.ResponseStream.MoveNext())
            {
            }
        }).WaitAsync(Bound);
        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
        Assert.Contains("larger than max", error.Status.Detail);
    }

    [Fact]
    public async Task A_response_over_the_clients_receive_limit_fails_with_resource_exhausted()
    {
        using var small = new RpcChannel(_fixture.Server.Address.ToString(), new RpcChannelOptions { MaxReceiveMessageBytes = 1024 });
        var error = await Assert.ThrowsAsync<RpcException>(() => small.UnaryAsync(EchoService.Echo, EchoService.Payload(2048)));
        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
    }

    [Fact]
    public async Task Server_streaming_delivers_every_message_in_order_then_ok()
    {
        using var call = Channel.ServerStreaming(EchoService.Repeat, new Int64Value { Value = 1000 });
        var expected = 0;
        while (await call.ResponseStream.MoveNext())
        {
            Assert.Equal(expected.ToString(System.Globalization.CultureInfo.InvariantCulture), call.ResponseStream.Current.Value.ToStringUtf8());
            expected++;
        }

        Assert.Equal(1000, expected);
    }

    [Fact]
    public async Task Client_streaming_sees_every_request_before_answering()
    {
        using var call = Channel.ClientStreaming(EchoService.Sum);
        for (var i = 1; i <= 100; i++)
        {
            await call.RequestStream.WriteAsync(new Int64Value { Value = i });
        }

        await call.RequestStream.CompleteAsync();
        var sum = await call.ResponseAsync.WaitAsync(Bound);
        Assert.Equal(5050, sum.Value);
    }

    [Fact]
    public async Task Duplex_streaming_interleaves_requests_and_responses()
    {
        using var call = Channel.DuplexStreaming(EchoService.Chat);
        for (var i = 0; i < 20; i++)
        {
            // Each answer is read before the next request is written: only true full duplex passes this.
            await call.RequestStream.WriteAsync(new StringValue { Value = "m" + i });
            Assert.True(await call.ResponseStream.MoveNext().AsTask().WaitAsync(Bound));
            Assert.Equal("echo:m" + i, call.ResponseStream.Current.Value);
        }

        await call.RequestStream.CompleteAsync();
        Assert.False(await call.ResponseStream.MoveNext().AsTask().WaitAsync(Bound));
    }

    [Fact]
    public async Task An_error_carries_its_code_message_and_typed_details()
    {
        const string message = "naïve 100% ✓ — missing\nblob";
        var error = await Assert.ThrowsAsync<RpcException>(() => Channel.UnaryAsync(EchoService.Fail, new StringValue { Value = message }));
        Assert.Equal(StatusCode.FailedPrecondition, error.StatusCode);
        Assert.Equal(message, error.Status.Detail);
        var precondition = error.GetDetail<Google.Rpc.PreconditionFailure>();
        Assert.NotNull(precondition);
        Assert.Equal("MISSING", precondition.Violations[0].Type);
        Assert.Equal("blobs/abc/3", precondition.Violations[0].Subject);
        Assert.Equal("digest", error.GetDetail<Google.Rpc.BadRequest>()!.FieldViolations[0].Field);
        Assert.Equal(TimeSpan.FromMilliseconds(1500), error.GetDetail<Google.Rpc.RetryInfo>()!.RetryDelay.ToTimeSpan());
    }

    [Fact]
    public async Task An_early_error_is_a_trailers_only_response()
    {
        using var http = RawClient();
        using var response = await http.SendAsync(RawRequest("/rafthead.test.Echo/Fail", new StringValue { Value = "early" }));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("9", Single(response.Headers, "grpc-status"));
        Assert.Equal("early", Single(response.Headers, "grpc-message"));
        Assert.Empty(await response.Content.ReadAsByteArrayAsync());
        Assert.Empty(response.TrailingHeaders);
    }

    [Fact]
    public async Task The_deadline_fails_the_call_and_cancels_the_handler()
    {
        // A server of its own, so no other test's Sleep can complete the signals this test waits on.
        var service = new EchoService();
        await using var server = new Server.RpcServer(new Server.RpcServerOptions(), new[] { service.Build() });
        await server.StartAsync();
        using var channel = new RpcChannel(server.Address.ToString());

        // A warm connection, so the deadline is spent in the handler and not on connecting under a loaded machine.
        await channel.UnaryAsync(EchoService.Echo, EchoService.Payload(1));
        var error = await Assert.ThrowsAsync<RpcException>(() => channel.UnaryAsync(
            EchoService.Sleep,
            Duration.FromTimeSpan(TimeSpan.FromSeconds(60)),
            new CallOptions { Timeout = TimeSpan.FromSeconds(1) })).WaitAsync(Bound);
        Assert.Equal(StatusCode.DeadlineExceeded, error.StatusCode);
        await service.SleepStarted.Task.WaitAsync(Bound);
        Assert.True(await service.SleepCancelled.Task.WaitAsync(Bound));
    }

    [Fact]
    public async Task A_grpc_timeout_header_alone_makes_the_server_answer_deadline_exceeded()
    {
        using var http = RawClient();
        var request = RawRequest("/rafthead.test.Echo/Sleep", Duration.FromTimeSpan(TimeSpan.FromSeconds(60)));
        request.Headers.TryAddWithoutValidation("grpc-timeout", "200m");
        using var response = await http.SendAsync(request).WaitAsync(Bound);
        await response.Content.ReadAsByteArrayAsync();
        var status = response.Headers.Contains("grpc-status") ? Single(response.Headers, "grpc-status") : Single(response.TrailingHeaders, "grpc-status");
        Assert.Equal("4", status);
    }

    [Fact]
    public async Task Cancelling_the_call_reports_cancelled_and_the_handler_observes_it()
    {
        var service = new EchoService();
        await using var server = new Server.RpcServer(new Server.RpcServerOptions(), new[] { service.Build() });
        await server.StartAsync();
        using var channel = new RpcChannel(server.Address.ToString());
        using var cts = new CancellationTokenSource();
        var call = channel.UnaryAsync(EchoService.Sleep, Duration.FromTimeSpan(TimeSpan.FromSeconds(60)), new CallOptions { CancellationToken = cts.Token });
        // Cancel only once the handler runs, so the cancellation has to cross the wire.
        await service.SleepStarted.Task.WaitAsync(Bound);
        cts.Cancel();
        var error = await Assert.ThrowsAsync<RpcException>(() => call).WaitAsync(Bound);
        Assert.Equal(StatusCode.Cancelled, error.StatusCode);
        Assert.True(await service.SleepCancelled.Task.WaitAsync(Bound));
    }

    [Theory]
    [InlineData("/rafthead.test.Echo/Nope", "Method /rafthead.test.Echo/Nope is not implemented")]
    [InlineData("/no.Such/Thing", "Service 'no.Such' is not implemented")]
    public async Task Unknown_methods_and_services_are_unimplemented(string path, string message)
    {
        var method = new Method<Empty, Empty>(path.Split('/')[1], path.Split('/')[2], MethodType.Unary, Empty.Parser, Empty.Parser);
        var error = await Assert.ThrowsAsync<RpcException>(() => Channel.UnaryAsync(method, new Empty()));
        Assert.Equal(StatusCode.Unimplemented, error.StatusCode);
        Assert.StartsWith(message, error.Status.Detail);
    }

    [Fact]
    public async Task An_unsupported_message_encoding_is_unimplemented()
    {
        using var http = RawClient();
        var request = RawRequest("/rafthead.test.Echo/Echo", EchoService.Payload(10));
        request.Headers.TryAddWithoutValidation("grpc-encoding", "gzip");
        using var response = await http.SendAsync(request);
        Assert.Equal("12", Single(response.Headers, "grpc-status"));
        Assert.Equal("identity", Single(response.Headers, "grpc-accept-encoding"));
    }

    [Fact]
    public async Task A_request_that_is_not_protobuf_is_an_invalid_argument()
    {
        using var http = RawClient();
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(_fixture.Server.Address, "/rafthead.test.Echo/Echo"))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent(new byte[] { 0, 0, 0, 0, 3, 0xFF, 0xFF, 0xFF }),
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        using var response = await http.SendAsync(request);
        Assert.Equal("3", Single(response.Headers, "grpc-status"));
    }

    [Fact]
    public async Task Custom_metadata_text_and_binary_travels_in_headers_and_trailers()
    {
        var headers = new Metadata()
            .Add("x-tool", "bazel")
            .Add("x-blob-bin", new byte[] { 0, 255, 10, 13 });
        var seen = await Channel.UnaryAsync(EchoService.Headers, new Empty(), new CallOptions { Headers = headers });
        Assert.Contains("x-tool=bazel;", seen.Value);
        Assert.Contains("x-blob-bin=00FF0A0D;", seen.Value);
    }

    [Fact]
    public async Task An_empty_server_stream_ends_ok()
    {
        using var call = Channel.ServerStreaming(EchoService.Repeat, new Int64Value { Value = 0 });
        Assert.False(await call.ResponseStream.MoveNext());
    }

    [Fact]
    public async Task Trailers_set_by_the_handler_reach_the_client()
    {
        using var http = RawClient();
        using var response = await http.SendAsync(RawRequest("/rafthead.test.Echo/Headers", new Empty()));
        await response.Content.ReadAsByteArrayAsync();
        Assert.Equal("0", Single(response.TrailingHeaders, "grpc-status"));
        Assert.Equal("t1", Single(response.TrailingHeaders, "x-trailer"));
        Assert.Equal(new byte[] { 0, 1, 2, 255 }, GrpcProtocol.DecodeBinaryValue(Single(response.TrailingHeaders, "x-trailer-bin")));
    }

    [Fact]
    public async Task Calls_to_a_dead_address_fail_unavailable()
    {
        var port = FreePort();
        using var channel = new RpcChannel($"127.0.0.1:{port}", new RpcChannelOptions { MaxRetryAttempts = 0 });
        var error = await Assert.ThrowsAsync<RpcException>(() => channel.UnaryAsync(EchoService.Echo, EchoService.Payload(1)));
        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
    }

    internal static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private HttpClient RawClient() => new(new SocketsHttpHandler()) { DefaultRequestVersion = HttpVersion.Version20 };

    private HttpRequestMessage RawRequest(string path, IMessage message)
    {
        var body = message.ToByteArray();
        var frame = new byte[5 + body.Length];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)body.Length);
        body.CopyTo(frame, 5);
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(_fixture.Server.Address, path))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent(frame),
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        request.Headers.TE.Add(new TransferCodingWithQualityHeaderValue("trailers"));
        return request;
    }

    private static string Single(HttpHeaders headers, string name) => Assert.Single(headers.GetValues(name));
}
