using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Build.Bazel.Remote.Execution.V2;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using RaftHead.Head.Hosting;
using RaftHead.Protocol;
using RaftHead.Protocol.Client;
using RemoteExecution = Build.Bazel.Remote.Execution.V2;

namespace RaftHead.Head.Tests.Grpc;

/// <summary>What a channel made by <see cref="GrpcChannels"/> does on its own: retries, several connections, TLS.</summary>
public sealed class ChannelBehaviourTests
{
    private static readonly TimeSpan Bound = EchoHost.Bound;

    [Fact]
    public async Task Idempotent_calls_are_retried_through_unavailable_and_others_are_not()
    {
        var cas = new FlakyCas(failures: 2);
        var execution = new FlakyExecution();
        await using var server = await StartFlakyAsync(cas, execution);
        using var channel = GrpcChannels.Create(server.Address, new GrpcChannelSettings());

        var digest = Digests.Compute("x"u8);
        var answer = await new ContentAddressableStorage.ContentAddressableStorageClient(channel)
            .FindMissingBlobsAsync(new FindMissingBlobsRequest { BlobDigests = { digest } }).ResponseAsync.WaitAsync(Bound);
        Assert.Equal(new[] { digest }, answer.MissingBlobDigests);
        Assert.Equal(3, cas.Attempts);

        // Execute is not on the idempotent list: a second attempt could start a second action.
        using var call = new RemoteExecution.Execution.ExecutionClient(channel).Execute(new ExecuteRequest());
        var error = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext().WaitAsync(Bound));
        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
        Assert.Equal(1, execution.Attempts);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(5)]
    public async Task Retries_stop_after_the_configured_number_of_attempts(int attemptsMax)
    {
        var cas = new FlakyCas(failures: int.MaxValue);
        await using var server = await StartFlakyAsync(cas, new FlakyExecution());
        using var channel = GrpcChannels.Create(server.Address, new GrpcChannelSettings { RetryAttemptsMax = attemptsMax, RetryBackoffInitialMs = 1, RetryBackoffMaxMs = 10 });

        var error = await Assert.ThrowsAsync<RpcException>(() => new ContentAddressableStorage.ContentAddressableStorageClient(channel)
            .FindMissingBlobsAsync(new FindMissingBlobsRequest()).ResponseAsync.WaitAsync(Bound));
        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
        Assert.Equal(attemptsMax, cas.Attempts);
    }

    [Fact]
    public async Task More_open_streams_than_one_connection_allows_spread_over_several_connections()
    {
        var service = new EchoService();
        await using var server = await EchoHost.StartAsync(service, new GrpcServerOptions { MaxStreamsPerConnection = 10 });
        using var channel = EchoHost.Channel(server.Address);
        var client = new Echo.EchoClient(channel);

        var calls = new List<AsyncDuplexStreamingCall<StringValue, StringValue>>();
        try
        {
            for (var i = 0; i < 35; i++)
            {
                var call = client.Chat();
                calls.Add(call);
                await call.RequestStream.WriteAsync(new StringValue { Value = "hi" }).WaitAsync(Bound);
                Assert.True(await call.ResponseStream.MoveNext().WaitAsync(Bound));
            }

            // 35 streams held open at once cannot fit in one connection of 10.
            Assert.True(service.ChatPeers.Count >= 4, $"streams used {service.ChatPeers.Count} connection(s)");
            foreach (var call in calls)
            {
                await call.RequestStream.CompleteAsync().WaitAsync(Bound);
            }
        }
        finally
        {
            // A stream stuck mid-write cannot be completed; disposing cancels whatever is still open.
            foreach (var call in calls)
            {
                call.Dispose();
            }
        }
    }

    [Fact]
    public async Task The_same_services_are_served_over_tls_when_given_a_certificate()
    {
        using var certificate = SelfSigned();
        var service = new EchoService();
        await using var server = await EchoHost.StartAsync(service, new GrpcServerOptions { Certificate = certificate });
        Assert.Equal("https", server.Address.Scheme);

        var thumbprint = certificate.Thumbprint;
        using var channel = EchoHost.Channel(server.Address, new GrpcChannelSettings
        {
            MaxReceiveMessageBytes = EchoHost.EchoLimitBytes,
            ServerCertificateValidation = (_, cert, _, _) => cert is X509Certificate2 c && c.Thumbprint == thumbprint,
        });
        var client = new Echo.EchoClient(channel);
        var response = await client.EchoAsync(EchoService.Payload(64)).ResponseAsync.WaitAsync(Bound);
        Assert.Equal(64, response.Value.Length);

        using var chat = client.Chat();
        await chat.RequestStream.WriteAsync(new StringValue { Value = "over tls" }).WaitAsync(Bound);
        Assert.True(await chat.ResponseStream.MoveNext().WaitAsync(Bound));
        Assert.Equal("echo:over tls", chat.ResponseStream.Current.Value);
        await chat.RequestStream.CompleteAsync().WaitAsync(Bound);
        Assert.False(await chat.ResponseStream.MoveNext().WaitAsync(Bound));

        // Without the test's trust the certificate is refused: the validation above is what let the calls through.
        using var untrusting = EchoHost.Channel(server.Address, new GrpcChannelSettings { RetryAttemptsMax = 1 });
        var error = await Assert.ThrowsAsync<RpcException>(
            () => new Echo.EchoClient(untrusting).EchoAsync(EchoService.Payload(1)).ResponseAsync).WaitAsync(Bound);
        Assert.NotEqual(StatusCode.OK, error.StatusCode);
        Assert.True(Causes(error.Status.DebugException).Any(e => e is System.Security.Authentication.AuthenticationException), error.ToString());
    }

    private static async Task<GrpcServer> StartFlakyAsync(FlakyCas cas, FlakyExecution execution)
    {
        var server = GrpcServer.Create(
            new GrpcServerOptions(),
            (services, _) =>
            {
                services.AddSingleton(cas);
                services.AddSingleton(execution);
            },
            endpoints =>
            {
                endpoints.MapGrpcService<FlakyCas>();
                endpoints.MapGrpcService<FlakyExecution>();
            },
            health => health.AddCheck("flaky", () => HealthCheckResult.Healthy()));
        await server.StartAsync().WaitAsync(Bound);
        return server;
    }

    private static IEnumerable<Exception> Causes(Exception? error)
    {
        for (var e = error; e is not null; e = e.InnerException)
        {
            yield return e;
        }
    }

    private static X509Certificate2 SelfSigned()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        using var ephemeral = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1));

        // Kestrel needs a certificate whose key it can use for TLS; an ephemeral key must round-trip through PFX first.
        return X509CertificateLoader.LoadPkcs12(ephemeral.Export(X509ContentType.Pfx), null);
    }
}
