using Google.Rpc;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Time.Testing;
using RaftHead.Protocol;
using RaftHead.Protocol.Client;
using RaftHead.Protocol.V1;
using RaftHead.Testing;
using static RaftHead.Head.Tests.Scheduling.Commands;

namespace RaftHead.Head.Tests.Admin;

/// <summary>
/// <c>SetWorkerQuarantine</c> on a running head, as <c>rh workers quarantine</c> and <c>release</c> call it: bad
/// requests refused naming the field, the quarantine committed through the log and shown in the node status with the
/// head's time, a release clearing it, an unknown worker named in NOT_FOUND.
/// </summary>
public sealed class WorkerQuarantineTests : IAsyncLifetime
{
    private static readonly DateTimeOffset Start = new(2026, 5, 1, 12, 0, 0, TimeSpan.Zero);

    private readonly FakeTimeProvider _clock = new(Start);
    private readonly TempDirectory _data = new("rh-quarantine-test-");
    private HeadNode _head = null!;
    private GrpcChannel _channel = null!;
    private RaftHead.Protocol.V1.Admin.AdminClient _admin = null!;

    public async Task InitializeAsync()
    {
        _head = await HeadNode.StartAsync(
            new HeadNodeOptions { DataDirectory = _data.Combine("head"), Port = 0, CasMaxBytes = 16 << 20, TimeProvider = _clock },
            CancellationToken.None);
        _channel = GrpcChannels.Create(_head.Address, new GrpcChannelSettings());
        _admin = new ReapiClients(_channel).Admin;
    }

    public async Task DisposeAsync()
    {
        _channel.Dispose();
        await _head.DisposeAsync();
        _data.Dispose();
    }

    [Theory]
    [InlineData("", true, "flaky disk", "worker_id")]
    [InlineData("w-1", true, "", "reason")]
    [InlineData("w-1", true, "   ", "reason")]
    [InlineData("w-1", false, "no longer flaky", "reason")]
    public async Task A_request_missing_a_worker_or_a_quarantine_reason_is_refused_naming_the_field(string worker, bool quarantined, string reason, string field)
    {
        var request = new SetWorkerQuarantineRequest { WorkerId = worker, Quarantined = quarantined, Reason = reason };

        var error = await Assert.ThrowsAsync<RpcException>(() => _admin.SetWorkerQuarantineAsync(request).ResponseAsync);

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.StartsWith(field + ": ", error.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(field, Assert.Single(error.GetDetail<BadRequest>()!.FieldViolations).Field);
        Assert.Equal(0, _head.Log.Current.Version);
    }

    [Fact]
    public async Task A_reason_longer_than_a_sentence_is_refused()
    {
        var request = new SetWorkerQuarantineRequest { WorkerId = "w-1", Quarantined = true, Reason = new string('x', 501) };

        var error = await Assert.ThrowsAsync<RpcException>(() => _admin.SetWorkerQuarantineAsync(request).ResponseAsync);

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("at most 500", error.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_quarantine_shows_in_the_node_status_with_the_heads_time_and_a_release_clears_it()
    {
        await _head.Log.ProposeAsync(Register("w-1", slots: 4), CancellationToken.None);
        _clock.Advance(TimeSpan.FromMinutes(5));

        await _admin.SetWorkerQuarantineAsync(new SetWorkerQuarantineRequest { WorkerId = "w-1", Quarantined = true, Reason = "  outputs differ from other workers' " });

        var worker = Assert.Single((await _admin.GetNodeStatusAsync(new GetNodeStatusRequest())).Workers);
        Assert.Equal("outputs differ from other workers'", worker.QuarantineReason);
        Assert.Equal(Start.AddMinutes(5), worker.QuarantinedAt.ToDateTimeOffset());

        // Quarantining again keeps the first reason and time: the operator who found the fault is the one to ask.
        _clock.Advance(TimeSpan.FromMinutes(1));
        await _admin.SetWorkerQuarantineAsync(new SetWorkerQuarantineRequest { WorkerId = "w-1", Quarantined = true, Reason = "again" });
        worker = Assert.Single((await _admin.GetNodeStatusAsync(new GetNodeStatusRequest())).Workers);
        Assert.Equal("outputs differ from other workers'", worker.QuarantineReason);

        await _admin.SetWorkerQuarantineAsync(new SetWorkerQuarantineRequest { WorkerId = "w-1", Quarantined = false });

        worker = Assert.Single((await _admin.GetNodeStatusAsync(new GetNodeStatusRequest())).Workers);
        Assert.Equal("", worker.QuarantineReason);
        Assert.Null(worker.QuarantinedAt);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task An_unknown_worker_is_not_found_and_named(bool quarantined)
    {
        await _head.Log.ProposeAsync(Register("w-1"), CancellationToken.None);
        var request = new SetWorkerQuarantineRequest { WorkerId = "w-9", Quarantined = quarantined, Reason = quarantined ? "flaky" : "" };

        var error = await Assert.ThrowsAsync<RpcException>(() => _admin.SetWorkerQuarantineAsync(request).ResponseAsync);

        Assert.Equal(StatusCode.NotFound, error.StatusCode);
        Assert.Contains("'w-9'", error.Status.Detail, StringComparison.Ordinal);
        Assert.Equal("", Assert.Single(_head.Log.Current.Workers).Value.QuarantineReason);
    }
}
