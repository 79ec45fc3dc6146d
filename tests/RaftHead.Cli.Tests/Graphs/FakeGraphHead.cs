using System.Collections.Concurrent;
using Build.Bazel.Remote.Execution.V2;
using Google.ByteStream;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using RaftHead.Head.Hosting;
using RaftHead.Protocol;
using RaftHead.Protocol.V1;
using GrpcStatus = Google.Rpc.Status;

namespace RaftHead.Cli.Tests.Graphs;

/// <summary>
/// A head serving only what <c>rh submit</c> uses, in process on 127.0.0.1: a CAS that records every call, Capabilities
/// with a chosen batch limit, and a Graphs service that records submissions and plays a scripted watch.
/// </summary>
internal sealed class FakeGraphHead : IAsyncDisposable
{
    private readonly GrpcServer _server;

    private FakeGraphHead(GrpcServer server, FakeState state)
    {
        _server = server;
        State = state;
    }

    public FakeState State { get; }

    public string Endpoint => _server.Address.Authority;

    public static async Task<FakeGraphHead> StartAsync(FakeState state)
    {
        var server = GrpcServer.Create(
            // A stopped head cuts its open streams at once: the watch tests stop a head to break its stream.
            new GrpcServerOptions { Port = 0, ShutdownTimeoutMs = 100 },
            (services, _) =>
            {
                services.AddSingleton(new FakeCas(state));
                services.AddSingleton(new FakeByteStream(state));
                services.AddSingleton(new FakeCapabilities(state));
                services.AddSingleton(new FakeGraphs(state));
            },
            endpoints =>
            {
                endpoints.MapGrpcService<FakeCas>();
                endpoints.MapGrpcService<FakeByteStream>();
                endpoints.MapGrpcService<FakeCapabilities>();
                endpoints.MapGrpcService<FakeGraphs>();
            },
            health => health.AddCheck("fake", () => HealthCheckResult.Healthy()));
        await server.StartAsync();
        return new FakeGraphHead(server, state);
    }

    public ValueTask DisposeAsync() => _server.DisposeAsync();

    /// <summary>What the fake holds and saw. Collections are concurrent: calls arrive on server threads.</summary>
    internal sealed class FakeState
    {
        public long MaxBatchTotalSizeBytes { get; init; } = 4 * 1024 * 1024;

        public ConcurrentDictionary<Digest, ByteString> Blobs { get; } = new();

        public ConcurrentQueue<Digest> FindMissingAsked { get; } = new();

        public ConcurrentQueue<IReadOnlyList<Digest>> Batches { get; } = new();

        public ConcurrentQueue<long> BatchSizes { get; } = new();

        public ConcurrentQueue<Digest> Streamed { get; } = new();

        public ConcurrentQueue<long> ReadOffsets { get; } = new();

        public ConcurrentQueue<SubmitGraphRequest> Submitted { get; } = new();

        public ConcurrentQueue<long> WatchedAfter { get; } = new();

        /// <summary>Every change the graph goes through, in sequence order; the watch sends those after the asked sequence.</summary>
        public List<GraphEvent> Script { get; } = [];

        /// <summary>The first watch breaks with UNAVAILABLE after sending this many events (null: never).</summary>
        public int? BreakFirstWatchAfter { get; set; }

        /// <summary>The first watch stops after sending this many events and stays open until its head goes away (null: never).</summary>
        public int? HoldFirstWatchAfter { get; set; }

        /// <summary>Set when the first watch is held.</summary>
        public TaskCompletionSource FirstWatchHeld { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>The head (host:port) each watch was opened on.</summary>
        public ConcurrentQueue<string> WatchedOn { get; } = new();

        public int Watches;

        public GraphStatus Final { get; set; } = new();

        public IEnumerable<Digest> Uploaded => Batches.SelectMany(b => b).Concat(Streamed);
    }

    private sealed class FakeCas(FakeState state) : ContentAddressableStorage.ContentAddressableStorageBase
    {
        public override Task<FindMissingBlobsResponse> FindMissingBlobs(FindMissingBlobsRequest request, ServerCallContext context)
        {
            var response = new FindMissingBlobsResponse();
            foreach (var digest in request.BlobDigests)
            {
                state.FindMissingAsked.Enqueue(digest);
                if (!state.Blobs.ContainsKey(digest))
                {
                    response.MissingBlobDigests.Add(digest);
                }
            }

            return Task.FromResult(response);
        }

        public override Task<BatchUpdateBlobsResponse> BatchUpdateBlobs(BatchUpdateBlobsRequest request, ServerCallContext context)
        {
            state.Batches.Enqueue(request.Requests.Select(r => r.Digest).ToList());
            state.BatchSizes.Enqueue(request.CalculateSize());
            var response = new BatchUpdateBlobsResponse();
            foreach (var item in request.Requests)
            {
                var ok = Digests.Matches(item.Digest, item.Data.Span);
                if (ok)
                {
                    state.Blobs[item.Digest] = item.Data;
                }

                response.Responses.Add(new BatchUpdateBlobsResponse.Types.Response
                {
                    Digest = item.Digest,
                    Status = new GrpcStatus { Code = ok ? 0 : (int)StatusCode.InvalidArgument, Message = ok ? "" : "digest mismatch" },
                });
            }

            return Task.FromResult(response);
        }

        public override Task<BatchReadBlobsResponse> BatchReadBlobs(BatchReadBlobsRequest request, ServerCallContext context)
        {
            var response = new BatchReadBlobsResponse();
            foreach (var digest in request.Digests)
            {
                var found = state.Blobs.TryGetValue(digest, out var data);
                response.Responses.Add(new BatchReadBlobsResponse.Types.Response
                {
                    Digest = digest,
                    Data = found ? data : ByteString.Empty,
                    Status = new GrpcStatus { Code = found ? 0 : (int)StatusCode.NotFound },
                });
            }

            return Task.FromResult(response);
        }
    }

    private sealed class FakeByteStream(FakeState state) : ByteStream.ByteStreamBase
    {
        public override async Task<WriteResponse> Write(IAsyncStreamReader<WriteRequest> requestStream, ServerCallContext context)
        {
            string? resource = null;
            using var data = new MemoryStream();
            while (await requestStream.MoveNext(context.CancellationToken))
            {
                resource ??= requestStream.Current.ResourceName;
                requestStream.Current.Data.WriteTo(data);
            }

            // uploads/{uuid}/blobs/{hash}/{size}
            var parts = resource!.Split('/');
            var digest = new Digest { Hash = parts[^2], SizeBytes = long.Parse(parts[^1], System.Globalization.CultureInfo.InvariantCulture) };
            var bytes = data.ToArray();
            if (!Digests.Matches(digest, bytes))
            {
                throw new RpcException(new Status(StatusCode.InvalidArgument, "digest mismatch"));
            }

            state.Blobs[digest] = ByteString.CopyFrom(bytes);
            state.Streamed.Enqueue(digest);
            return new WriteResponse { CommittedSize = bytes.Length };
        }

        public override async Task Read(ReadRequest request, IServerStreamWriter<ReadResponse> responseStream, ServerCallContext context)
        {
            var parts = request.ResourceName.Split('/');
            var digest = new Digest { Hash = parts[^2], SizeBytes = long.Parse(parts[^1], System.Globalization.CultureInfo.InvariantCulture) };
            if (!state.Blobs.TryGetValue(digest, out var data))
            {
                throw new RpcException(new Status(StatusCode.NotFound, "no such blob"));
            }

            state.ReadOffsets.Enqueue(request.ReadOffset);
            var end = request.ReadLimit > 0 ? Math.Min(data.Length, request.ReadOffset + request.ReadLimit) : data.Length;
            for (var at = (int)request.ReadOffset; at < end; at += 4096)
            {
                await responseStream.WriteAsync(new ReadResponse { Data = ByteString.CopyFrom(data.Span[at..(int)Math.Min(end, at + 4096)]) });
            }
        }
    }

    private sealed class FakeCapabilities(FakeState state) : Capabilities.CapabilitiesBase
    {
        public override Task<ServerCapabilities> GetCapabilities(GetCapabilitiesRequest request, ServerCallContext context) =>
            Task.FromResult(new ServerCapabilities { CacheCapabilities = new CacheCapabilities { MaxBatchTotalSizeBytes = state.MaxBatchTotalSizeBytes } });
    }

    private sealed class FakeGraphs(FakeState state) : RaftHead.Protocol.V1.Graphs.GraphsBase
    {
        public override Task<SubmitGraphResponse> SubmitGraph(SubmitGraphRequest request, ServerCallContext context)
        {
            var duplicate = state.Submitted.Any(s => s.GraphId == request.GraphId);
            state.Submitted.Enqueue(request);
            var status = new GraphStatus { GraphId = request.GraphId, InstanceName = request.InstanceName, Counts = new GraphCounts { Waiting = (uint)request.Nodes.Count } };
            foreach (var node in request.Nodes)
            {
                status.Nodes.Add(new GraphNodeStatus { Id = node.Id, Phase = GraphNodePhase.Waiting });
            }

            return Task.FromResult(new SubmitGraphResponse { Status = status, Duplicate = duplicate });
        }

        public override Task<GraphStatus> GetGraph(GetGraphRequest request, ServerCallContext context) => Task.FromResult(state.Final);

        public override async Task WatchGraph(WatchGraphRequest request, IServerStreamWriter<GraphEvent> responseStream, ServerCallContext context)
        {
            state.WatchedAfter.Enqueue(request.AfterSequence);
            state.WatchedOn.Enqueue(context.GetHttpContext().Request.Host.Value!);
            var first = Interlocked.Increment(ref state.Watches) == 1;
            var sent = 0;
            foreach (var change in state.Script.Where(e => e.Node.Sequence > request.AfterSequence))
            {
                if (first && sent == state.BreakFirstWatchAfter)
                {
                    throw new RpcException(new Status(StatusCode.Unavailable, "the head is going away"));
                }

                if (first && sent == state.HoldFirstWatchAfter)
                {
                    state.FirstWatchHeld.TrySetResult();
                    await Task.Delay(Timeout.Infinite, context.CancellationToken);
                }

                await responseStream.WriteAsync(change);
                sent++;
            }
        }
    }
}
