using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Google.Protobuf.WellKnownTypes;
using RaftHead.Rpc.Client;
using RaftHead.Rpc.Server;

namespace RaftHead.Rpc.Tests;

public sealed class ChannelBehaviourTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    private const string FlakyService = "rafthead.test.Flaky";

    private static readonly Method<Int32Value, Int32Value> IdempotentCall = new(FlakyService, "Idempotent", MethodType.Unary, Int32Value.Parser, Int32Value.Parser, idempotent: true);

    private static readonly Method<Int32Value, Int32Value> OnceOnlyCall = new(FlakyService, "OnceOnly", MethodType.Unary, Int32Value.Parser, Int32Value.Parser);

    [Fact]
    public async Task Idempotent_calls_are_retried_through_unavailable_and_others_are_not()
    {
        var attempts = new ConcurrentDictionary<string, int>();
        ValueTask<Int32Value> FailTwice(Int32Value request, ServerCallContext context)
        {
            var n = attempts.AddOrUpdate(context.Method, 1, (_, v) => v + 1);
            return n <= 2
                ? throw new RpcException(StatusCode.Unavailable, "warming up")
                : ValueTask.FromResult(new Int32Value { Value = request.Value + 1 });
        }

        var service = new ServiceBuilder(FlakyService).Unary(IdempotentCall, FailTwice).Unary(OnceOnlyCall, FailTwice).Build();
        await using var server = new RpcServer(new RpcServerOptions(), new[] { service });
        await server.StartAsync();
        using var channel = new RpcChannel(server.Address.ToString(), new RpcChannelOptions { RetryBaseDelay = TimeSpan.FromMilliseconds(1) });

        var answer = await channel.UnaryAsync(IdempotentCall, new Int32Value { Value = 41 });
        Assert.Equal(42, answer.Value);
        Assert.Equal(3, attempts[IdempotentCall.FullName]);

        var error = await Assert.ThrowsAsync<RpcException>(() => channel.UnaryAsync(OnceOnlyCall, new Int32Value()));
        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
        Assert.Equal(1, attempts[OnceOnlyCall.FullName]);
    }

    [Fact]
    public async Task More_open_streams_than_one_connection_allows_spread_over_several_connections()
    {
        var peers = new ConcurrentDictionary<string, int>();
        var service = new EchoService();
        var chat = new ServiceBuilder("rafthead.test.Peers")
            .DuplexStreaming(
                new Method<StringValue, StringValue>("rafthead.test.Peers", "Hold", MethodType.DuplexStreaming, StringValue.Parser, StringValue.Parser),
                async (requests, responses, context) =>
                {
                    peers.AddOrUpdate(context.Peer, 1, (_, v) => v + 1);
                    while (await requests.MoveNext(context.CancellationToken))
                    {
                        await responses.WriteAsync(requests.Current, context.CancellationToken);
                    }
                })
            .Build();
        var hold = new Method<StringValue, StringValue>("rafthead.test.Peers", "Hold", MethodType.DuplexStreaming, StringValue.Parser, StringValue.Parser);
        await using var server = new RpcServer(new RpcServerOptions { MaxStreamsPerConnection = 10 }, new[] { chat, service.Build() });
        await server.StartAsync();
        using var channel = new RpcChannel(server.Address.ToString());

        var calls = new List<DuplexStreamingCall<StringValue, StringValue>>();
        try
        {
            for (var i = 0; i < 35; i++)
            {
                var call = channel.DuplexStreaming(hold);
                calls.Add(call);
                await call.RequestStream.WriteAsync(new StringValue { Value = "hi" });
                Assert.True(await call.ResponseStream.MoveNext().AsTask().WaitAsync(Bound));
            }

            // 35 streams held open at once cannot fit in one connection of 10.
            Assert.True(peers.Count >= 4, $"streams used {peers.Count} connection(s)");
        }
        finally
        {
            foreach (var call in calls)
            {
                await call.RequestStream.CompleteAsync();
                call.Dispose();
            }
        }
    }

    [Fact]
    public async Task The_same_services_are_served_over_tls_when_given_a_certificate()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var builder = new SubjectAlternativeNameBuilder();
        builder.AddIpAddress(System.Net.IPAddress.Loopback);
        request.CertificateExtensions.Add(builder.Build());
        using var ephemeral = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1));
        using var certificate = X509CertificateLoader.LoadPkcs12(ephemeral.Export(X509ContentType.Pfx), null);

        var service = new EchoService();
        await using var server = new RpcServer(new RpcServerOptions { Certificate = certificate }, new[] { service.Build() });
        await server.StartAsync();
        Assert.Equal("https", server.Address.Scheme);

        var thumbprint = certificate.Thumbprint;
        using var channel = new RpcChannel(server.Address.ToString(), new RpcChannelOptions
        {
            ServerCertificateValidation = (_, cert, _, _) => cert is X509Certificate2 c && c.Thumbprint == thumbprint,
        });
        var response = await channel.UnaryAsync(EchoService.Echo, EchoService.Payload(64)).WaitAsync(Bound);
        Assert.Equal(64, response.Value.Length);
    }
}
