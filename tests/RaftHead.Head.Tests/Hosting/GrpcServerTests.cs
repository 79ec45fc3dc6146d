using Build.Bazel.Remote.Execution.V2;
using Google.ByteStream;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Reflection.V1;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using RaftHead.Head.Hosting;
using RaftHead.Protocol;
using RaftHead.Protocol.Client;

namespace RaftHead.Head.Tests.Hosting;

/// <summary>What every gRPC endpoint of a head offers beside REAPI: health, reflection, and handlers that stop when the call does.</summary>
public sealed class GrpcServerTests : IAsyncLifetime
{
    private RunningHead _node = null!;

    public async Task InitializeAsync() => _node = await RunningHead.StartAsync(casMaxBytes: 64L << 20, channel: new GrpcChannelSettings { RetryAttemptsMax = 1 });

    public async Task DisposeAsync() => await _node.DisposeAsync();

    [Fact]
    public async Task A_head_with_its_storage_open_reports_serving()
    {
        var health = new Health.HealthClient(_node.Channel);
        var answer = await health.CheckAsync(new HealthCheckRequest());
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, answer.Status);
    }

    [Fact]
    public async Task Health_follows_the_checks_the_host_registered()
    {
        var healthy = false;
        await using var server = GrpcServer.Create(
            new GrpcServerOptions(),
            (_, _) => { },
            _ => { },
            checks => checks.AddCheck("can-serve", () => healthy ? HealthCheckResult.Healthy() : HealthCheckResult.Unhealthy("not yet")));
        await server.StartAsync();
        using var channel = GrpcChannels.Create(server.Address, new GrpcChannelSettings { RetryAttemptsMax = 1 });
        var health = new Health.HealthClient(channel);

        Assert.Equal(HealthCheckResponse.Types.ServingStatus.NotServing, (await health.CheckAsync(new HealthCheckRequest())).Status);
        healthy = true;
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, (await health.CheckAsync(new HealthCheckRequest())).Status);
    }

    [Fact]
    public async Task Reflection_lists_every_service_a_head_serves()
    {
        var reflection = new ServerReflection.ServerReflectionClient(_node.Channel);
        using var call = reflection.ServerReflectionInfo();
        await call.RequestStream.WriteAsync(new ServerReflectionRequest { ListServices = "" });
        await call.RequestStream.CompleteAsync();
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        var names = call.ResponseStream.Current.ListServicesResponse.Service.Select(s => s.Name).ToHashSet();
        foreach (var expected in new[]
        {
            "build.bazel.remote.execution.v2.Capabilities",
            "build.bazel.remote.execution.v2.ContentAddressableStorage",
            "build.bazel.remote.execution.v2.ActionCache",
            "google.bytestream.ByteStream",
            "rafthead.v1.Admin",
            "grpc.health.v1.Health",
        })
        {
            Assert.Contains(expected, names);
        }

        // Execution is offered only by a head that executes.
        Assert.DoesNotContain("build.bazel.remote.execution.v2.Execution", names);
    }

    [Fact]
    public async Task A_write_cancelled_before_finish_stores_nothing()
    {
        var blob = new byte[256 * 1024];
        Random.Shared.NextBytes(blob);
        var digest = Digests.Compute(blob);
        using var cancel = new CancellationTokenSource();
        using (var write = _node.Rpc.ByteStream.Write(cancellationToken: cancel.Token))
        {
            await write.RequestStream.WriteAsync(new WriteRequest
            {
                ResourceName = $"uploads/{Guid.NewGuid()}/blobs/{digest.Hash}/{digest.SizeBytes}",
                Data = ByteString.CopyFrom(blob, 0, blob.Length / 2),
            });
            await cancel.CancelAsync();
            var error = await Assert.ThrowsAsync<RpcException>(() => write.ResponseAsync);
            Assert.Equal(StatusCode.Cancelled, error.StatusCode);
        }

        var missing = await _node.Rpc.Cas.FindMissingBlobsAsync(new FindMissingBlobsRequest { BlobDigests = { digest } });
        Assert.Equal(digest, Assert.Single(missing.MissingBlobDigests));
    }

    [Fact]
    public async Task A_write_whose_deadline_passes_mid_stream_is_deadline_exceeded_and_stores_nothing()
    {
        var blob = new byte[64 * 1024];
        Random.Shared.NextBytes(blob);
        var digest = Digests.Compute(blob);
        var name = $"uploads/{Guid.NewGuid()}/blobs/{digest.Hash}/{digest.SizeBytes}";
        using (var write = _node.Rpc.ByteStream.Write(deadline: DateTime.UtcNow.AddMilliseconds(300)))
        {
            await write.RequestStream.WriteAsync(new WriteRequest { ResourceName = name, Data = ByteString.CopyFrom(blob, 0, 1024) });

            // The rest never comes: the server must give up at the deadline, not wait for finish_write.
            var error = await Assert.ThrowsAsync<RpcException>(() => write.ResponseAsync);
            Assert.Equal(StatusCode.DeadlineExceeded, error.StatusCode);
        }

        var missing = await _node.Rpc.Cas.FindMissingBlobsAsync(new FindMissingBlobsRequest { BlobDigests = { digest } });
        Assert.Equal(digest, Assert.Single(missing.MissingBlobDigests));
    }
}
