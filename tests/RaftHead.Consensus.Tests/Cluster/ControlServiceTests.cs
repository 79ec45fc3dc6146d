using System.Diagnostics;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using RaftHead.Testing;
using Xunit.Abstractions;

namespace RaftHead.Consensus.Tests.Cluster;

/// <summary>
/// The node host's control API at its edge: what a client sees when the driver refuses a put. A load generator
/// must be able to tell back-pressure (retry later, nothing was proposed) from a failure.
/// </summary>
[Collection(RealTimeCollection.Name)]
public sealed class ControlServiceTests : IAsyncLifetime
{
    // A queue of one against a burst of concurrent puts: the driver must refuse some of them.
    private const int RequestQueueCapacity = 1;
    private const int CallsPerBurst = 256;
    private const int BurstsMax = 20;

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    private readonly ILoggerFactory _loggers;
    private readonly TempDirectory _dir = new();
    private readonly NodeHostOptions _options;
    private RaftNodeHost? _host;

    public ControlServiceTests(ITestOutputHelper output)
    {
        _loggers = TestLoggerFactory.Create(output);
        _options = LoopbackCluster.Options(1, _dir.Path, o => o with { RequestQueueCapacity = RequestQueueCapacity })[1];
    }

    public async Task InitializeAsync() => _host = await RaftNodeHost.StartAsync(_options, _loggers, CancellationToken.None);

    public async Task DisposeAsync()
    {
        if (_host is not null) await _host.DisposeAsync();
        _loggers.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public async Task A_put_the_driver_refuses_for_back_pressure_is_resource_exhausted_and_every_other_put_commits()
    {
        using var client = new ControlClient(_options.Members);
        await Eventually.WaitAsync(() => client.LeaderAsync([_options.Id]), Timeout, "the single node to lead");

        var clock = Stopwatch.StartNew();
        long committed = 0, exhausted = 0;
        for (var burst = 0; burst < BurstsMax && exhausted == 0 && clock.Elapsed < Timeout; burst++)
        {
            var calls = Enumerable.Range(0, CallsPerBurst)
                .Select(i => Task.Run(() => client.PutAsync(_options.Id, $"b{burst}-k{i}", "v", Timeout)))
                .ToArray();
            foreach (var call in calls)
            {
                try
                {
                    Assert.True(await call > 0);
                    committed++;
                }
                catch (RpcException e)
                {
                    // Anything but back-pressure (an unmapped exception is UNKNOWN) fails the test here.
                    Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
                    Assert.Contains("RequestQueueFull", e.Status.Detail, StringComparison.Ordinal);
                    exhausted++;
                }
            }
        }

        Assert.True(exhausted > 0, $"no put was refused in {BurstsMax} bursts of {CallsPerBurst} against a queue of {RequestQueueCapacity}");
        Assert.True(committed > 0, "no put committed");
        Assert.Equal(exhausted, _host!.Driver.Stats.ProposalsRejected);
    }
}
