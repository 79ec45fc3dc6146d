using Build.Bazel.Remote.Execution.V2;
using Google.ByteStream;
using Google.Protobuf;
using Grpc.Core;
using RaftHead.Protocol;
using Directory = Build.Bazel.Remote.Execution.V2.Directory;

namespace RaftHead.Head.Tests;

/// <summary>The single-node head's REAPI services, called over the real gRPC layer on loopback.</summary>
public sealed class ReapiServiceTests : IAsyncLifetime
{
    private RunningHead _node = null!;

    public async Task InitializeAsync() => _node = await RunningHead.StartAsync(casMaxBytes: 256L << 20);

    public async Task DisposeAsync() => await _node.DisposeAsync();

    [Fact]
    public async Task GetTree_answers_each_directory_present_once_in_pages_the_client_follows()
    {
        // root -> a, b; a and b share the same child c; b also names a directory the CAS lacks.
        var c = new Directory { Files = { new FileNode { Name = "f", Digest = Digests.Empty } } };
        var missing = new Directory { Files = { new FileNode { Name = "g", Digest = Digests.Empty } } };
        var a = new Directory { Directories = { new DirectoryNode { Name = "c", Digest = Digests.ComputeOf(c) } } };
        var b = new Directory
        {
            Directories =
            {
                new DirectoryNode { Name = "c", Digest = Digests.ComputeOf(c) },
                new DirectoryNode { Name = "gone", Digest = Digests.ComputeOf(missing) },
            },
        };
        var root = new Directory
        {
            Directories =
            {
                new DirectoryNode { Name = "a", Digest = Digests.ComputeOf(a) },
                new DirectoryNode { Name = "b", Digest = Digests.ComputeOf(b) },
            },
        };
        var upload = new BatchUpdateBlobsRequest();
        foreach (var directory in new[] { c, a, b, root })
        {
            upload.Requests.Add(new BatchUpdateBlobsRequest.Types.Request { Digest = Digests.ComputeOf(directory), Data = directory.ToByteString() });
        }

        await _node.Rpc.Cas.BatchUpdateBlobsAsync(upload).ResponseAsync;
        var rootDigest = Digests.ComputeOf(root);

        // No page size: every page streamed; the shared c once, the missing directory left out.
        using (var all = _node.Rpc.Cas.GetTree(new GetTreeRequest { RootDigest = rootDigest }))
        {
            var directories = new List<Directory>();
            while (await all.ResponseStream.MoveNext(CancellationToken.None))
            {
                directories.AddRange(all.ResponseStream.Current.Directories);
            }

            Assert.Equal(new[] { root, a, b, c }, directories);
        }

        // Pages of two: the client follows the token.
        var first = await SinglePageAsync(new GetTreeRequest { RootDigest = rootDigest, PageSize = 2 });
        Assert.Equal(new[] { root, a }, first.Directories);
        Assert.NotEmpty(first.NextPageToken);
        var second = await SinglePageAsync(new GetTreeRequest { RootDigest = rootDigest, PageSize = 2, PageToken = first.NextPageToken });
        Assert.Equal(new[] { b, c }, second.Directories);
        Assert.Empty(second.NextPageToken);

        // A token for another root, or made up, is refused naming the field.
        var error = await Assert.ThrowsAsync<RpcException>(() => SinglePageAsync(new GetTreeRequest { RootDigest = Digests.ComputeOf(a), PageSize = 2, PageToken = first.NextPageToken }));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Equal("page_token", error.GetDetail<Google.Rpc.BadRequest>()!.FieldViolations[0].Field);
    }

    private async Task<GetTreeResponse> SinglePageAsync(GetTreeRequest request)
    {
        using var call = _node.Rpc.Cas.GetTree(request);
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        var page = call.ResponseStream.Current;
        Assert.False(await call.ResponseStream.MoveNext(CancellationToken.None));
        return page;
    }

    [Fact]
    public async Task Capabilities_offer_what_bazel_checks()
    {
        var caps = await _node.Rpc.Capabilities.GetCapabilitiesAsync(new GetCapabilitiesRequest()).ResponseAsync;
        Assert.Contains(DigestFunction.Types.Value.Sha256, caps.CacheCapabilities.DigestFunctions);
        Assert.True(caps.CacheCapabilities.ActionCacheUpdateCapabilities.UpdateEnabled);
        Assert.Equal(2, caps.LowApiVersion.Major);
        Assert.Equal(0, caps.LowApiVersion.Minor);
        Assert.True(caps.CacheCapabilities.MaxBatchTotalSizeBytes > 0);
    }

    [Fact]
    public async Task Batch_upload_then_find_missing_and_batch_read()
    {
        var a = ByteString.CopyFromUtf8("alpha");
        var b = ByteString.CopyFromUtf8("beta");
        var da = Digests.Compute(a.Span);
        var db = Digests.Compute(b.Span);
        var absent = Digests.Compute("never uploaded"u8);
        var upload = await _node.Rpc.Cas.BatchUpdateBlobsAsync(new BatchUpdateBlobsRequest
        {
            Requests = { new BatchUpdateBlobsRequest.Types.Request { Digest = da, Data = a }, new BatchUpdateBlobsRequest.Types.Request { Digest = db, Data = b } },
        }).ResponseAsync;
        Assert.All(upload.Responses, r => Assert.Equal(0, r.Status.Code));

        var missing = await _node.Rpc.Cas.FindMissingBlobsAsync(new FindMissingBlobsRequest { BlobDigests = { da, absent, db, Digests.Empty } }).ResponseAsync;
        Assert.Equal(new[] { absent }, missing.MissingBlobDigests);

        var read = await _node.Rpc.Cas.BatchReadBlobsAsync(new BatchReadBlobsRequest { Digests = { db, absent } }).ResponseAsync;
        Assert.Equal(b, read.Responses[0].Data);
        Assert.Equal((int)StatusCode.NotFound, read.Responses[1].Status.Code);
    }

    [Fact]
    public async Task Instance_names_are_separate_namespaces()
    {
        var data = ByteString.CopyFromUtf8("only in team-a");
        var digest = Digests.Compute(data.Span);
        await _node.Rpc.Cas.BatchUpdateBlobsAsync(new BatchUpdateBlobsRequest
        {
            InstanceName = "team-a",
            Requests = { new BatchUpdateBlobsRequest.Types.Request { Digest = digest, Data = data } },
        }).ResponseAsync;
        var inB = await _node.Rpc.Cas.FindMissingBlobsAsync(new FindMissingBlobsRequest { InstanceName = "team/b", BlobDigests = { digest } }).ResponseAsync;
        Assert.Single(inB.MissingBlobDigests);
        var inA = await _node.Rpc.Cas.FindMissingBlobsAsync(new FindMissingBlobsRequest { InstanceName = "team-a", BlobDigests = { digest } }).ResponseAsync;
        Assert.Empty(inA.MissingBlobDigests);
    }

    [Fact]
    public async Task ByteStream_write_in_chunks_then_read_with_offset_and_limit()
    {
        var blob = new byte[300_000];
        new Random(42).NextBytes(blob);
        var digest = Digests.Compute(blob);
        var name = $"main/uploads/{Guid.NewGuid()}/blobs/{digest.Hash}/{digest.SizeBytes}";
        using (var write = _node.Rpc.ByteStream.Write())
        {
            for (var offset = 0; offset < blob.Length; offset += 16 * 1024)
            {
                var size = Math.Min(16 * 1024, blob.Length - offset);
                await write.RequestStream.WriteAsync(new WriteRequest
                {
                    ResourceName = offset == 0 ? name : "",
                    WriteOffset = offset,
                    Data = ByteString.CopyFrom(blob, offset, size),
                    FinishWrite = offset + size == blob.Length,
                });
            }

            await write.RequestStream.CompleteAsync();
            Assert.Equal(blob.Length, (await write.ResponseAsync).CommittedSize);
        }

        var status = await _node.Rpc.ByteStream.QueryWriteStatusAsync(new QueryWriteStatusRequest { ResourceName = name }).ResponseAsync;
        Assert.True(status.Complete);

        using var read = _node.Rpc.ByteStream.Read(new ReadRequest { ResourceName = $"main/blobs/{digest.Hash}/{digest.SizeBytes}", ReadOffset = 1000, ReadLimit = 50_000 });
        var received = new MemoryStream();
        while (await read.ResponseStream.MoveNext())
        {
            read.ResponseStream.Current.Data.WriteTo(received);
        }

        Assert.Equal(blob.AsSpan(1000, 50_000).ToArray(), received.ToArray());
    }

    [Fact]
    public async Task A_ByteStream_upload_that_does_not_match_its_digest_is_refused_and_not_kept()
    {
        var digest = Digests.Compute("the real content"u8);
        var name = $"uploads/{Guid.NewGuid()}/blobs/{digest.Hash}/{digest.SizeBytes}";
        using var write = _node.Rpc.ByteStream.Write();
        await write.RequestStream.WriteAsync(new WriteRequest { ResourceName = name, Data = ByteString.CopyFromUtf8("the fake content"), FinishWrite = true });
        await write.RequestStream.CompleteAsync();
        var error = await Assert.ThrowsAsync<RpcException>(() => write.ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        var missing = await _node.Rpc.Cas.FindMissingBlobsAsync(new FindMissingBlobsRequest { BlobDigests = { digest } }).ResponseAsync;
        Assert.Single(missing.MissingBlobDigests);
    }

    [Fact]
    public async Task Reading_a_missing_blob_is_not_found_with_the_digest_in_the_message()
    {
        var digest = Digests.Compute("absent"u8);
        using var read = _node.Rpc.ByteStream.Read(new ReadRequest { ResourceName = $"blobs/{digest.Hash}/{digest.SizeBytes}" });
        var error = await Assert.ThrowsAsync<RpcException>(async () => await read.ResponseStream.MoveNext());
        Assert.Equal(StatusCode.NotFound, error.StatusCode);
        Assert.Contains(digest.Hash, error.Status.Detail);
    }

    [Theory]
    [InlineData("ABC", 3)]
    [InlineData("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a", 3)]
    [InlineData("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", -1)]
    public async Task Malformed_digests_are_invalid_arguments_naming_the_field(string hash, long size)
    {
        var error = await Assert.ThrowsAsync<RpcException>(() => _node.Rpc.Cas.FindMissingBlobsAsync(new FindMissingBlobsRequest { BlobDigests = { Digests.Empty, new Digest { Hash = hash, SizeBytes = size } } }).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("blob_digests[1]", error.Status.Detail);
        Assert.Equal("blob_digests[1]", error.GetDetail<Google.Rpc.BadRequest>()!.FieldViolations[0].Field);
    }

    [Fact]
    public async Task A_batch_over_the_advertised_limit_is_refused_and_stores_nothing()
    {
        var caps = await _node.Rpc.Capabilities.GetCapabilitiesAsync(new GetCapabilitiesRequest()).ResponseAsync;
        var half = (int)(caps.CacheCapabilities.MaxBatchTotalSizeBytes / 2) + 1;
        var one = new byte[half];
        var two = new byte[half];
        two[0] = 1;
        var request = new BatchUpdateBlobsRequest
        {
            Requests =
            {
                new BatchUpdateBlobsRequest.Types.Request { Digest = Digests.Compute(one), Data = ByteString.CopyFrom(one) },
                new BatchUpdateBlobsRequest.Types.Request { Digest = Digests.Compute(two), Data = ByteString.CopyFrom(two) },
            },
        };
        var error = await Assert.ThrowsAsync<RpcException>(() => _node.Rpc.Cas.BatchUpdateBlobsAsync(request).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        var missing = await _node.Rpc.Cas.FindMissingBlobsAsync(new FindMissingBlobsRequest { BlobDigests = { Digests.Compute(one), Digests.Compute(two) } }).ResponseAsync;
        Assert.Equal(2, missing.MissingBlobDigests.Count);
    }

    [Fact]
    public async Task An_action_result_is_a_hit_only_while_its_outputs_exist()
    {
        var output = ByteString.CopyFromUtf8("compiled bytes");
        var outputDigest = Digests.Compute(output.Span);
        var action = Digests.Compute("an action"u8);
        var result = new ActionResult { ExitCode = 0, OutputFiles = { new OutputFile { Path = "out/a.o", Digest = outputDigest } } };

        await _node.Rpc.ActionCache.UpdateActionResultAsync(new UpdateActionResultRequest { ActionDigest = action, ActionResult = result }).ResponseAsync;
        var incomplete = await Assert.ThrowsAsync<RpcException>(() => _node.Rpc.ActionCache.GetActionResultAsync(new GetActionResultRequest { ActionDigest = action }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, incomplete.StatusCode);

        await _node.Rpc.Cas.BatchUpdateBlobsAsync(new BatchUpdateBlobsRequest
        {
            Requests = { new BatchUpdateBlobsRequest.Types.Request { Digest = outputDigest, Data = output } },
        }).ResponseAsync;
        var hit = await _node.Rpc.ActionCache.GetActionResultAsync(new GetActionResultRequest { ActionDigest = action, InlineOutputFiles = { "out/a.o" } }).ResponseAsync;
        Assert.Equal("out/a.o", hit.OutputFiles[0].Path);
        Assert.Equal(output, hit.OutputFiles[0].Contents);

        var stats = _node.Head.CacheStats();
        Assert.Equal(1, stats.Total.Hits);
        Assert.Equal(1, stats.Total.Incomplete);
        var instance = Assert.Single(stats.Instances, i => i.InstanceName == "");
        Assert.Equal(1, instance.ActionResults);
        Assert.Equal(1, instance.Hits);
    }

    [Fact]
    public async Task An_action_result_naming_an_invalid_digest_is_refused_and_not_stored()
    {
        var action = Digests.Compute("another action"u8);
        var bad = new ActionResult { OutputFiles = { new OutputFile { Path = "x", Digest = new Digest { Hash = "zz", SizeBytes = 1 } } } };
        var error = await Assert.ThrowsAsync<RpcException>(() => _node.Rpc.ActionCache.UpdateActionResultAsync(new UpdateActionResultRequest { ActionDigest = action, ActionResult = bad }).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("output_files[0].digest", error.Status.Detail);
        var lookup = await Assert.ThrowsAsync<RpcException>(() => _node.Rpc.ActionCache.GetActionResultAsync(new GetActionResultRequest { ActionDigest = action }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, lookup.StatusCode);
    }

    [Theory]
    [InlineData("blobs/nothex/3")]
    [InlineData("main/blobs/ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")]
    [InlineData("uploads/x/blobs/ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad/3")]
    public async Task A_malformed_read_resource_name_is_an_invalid_argument(string name)
    {
        using var read = _node.Rpc.ByteStream.Read(new ReadRequest { ResourceName = name });
        var error = await Assert.ThrowsAsync<RpcException>(async () => await read.ResponseStream.MoveNext());
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("resource_name", error.Status.Detail);
    }

    [Fact]
    public async Task A_batch_blob_with_the_wrong_size_is_refused_alone_and_not_stored()
    {
        var good = ByteString.CopyFromUtf8("good");
        var bad = ByteString.CopyFromUtf8("bad size");
        var badDigest = Digests.Compute(bad.Span);
        badDigest.SizeBytes += 1;
        var response = await _node.Rpc.Cas.BatchUpdateBlobsAsync(new BatchUpdateBlobsRequest
        {
            Requests =
            {
                new BatchUpdateBlobsRequest.Types.Request { Digest = Digests.Compute(good.Span), Data = good },
                new BatchUpdateBlobsRequest.Types.Request { Digest = badDigest, Data = bad },
            },
        }).ResponseAsync;
        Assert.Equal(0, response.Responses[0].Status.Code);
        Assert.Equal((int)StatusCode.InvalidArgument, response.Responses[1].Status.Code);
        var missing = await _node.Rpc.Cas.FindMissingBlobsAsync(new FindMissingBlobsRequest { BlobDigests = { badDigest } }).ResponseAsync;
        Assert.Single(missing.MissingBlobDigests);
    }

    [Fact]
    public async Task A_message_over_the_receive_limit_is_resource_exhausted_and_stores_nothing()
    {
        // Receive limits are per service: the CAS service takes a full batch plus framing, and not a byte more.
        var limit = new RaftHead.Head.Reapi.ReapiOptions().CasReceiveMessageBytesMax;
        var request = new FindMissingBlobsRequest();
        var perDigest = new FindMissingBlobsRequest { BlobDigests = { Digests.Compute(BitConverter.GetBytes(0)) } }.CalculateSize();
        for (var i = 0; i <= limit / perDigest; i++)
        {
            request.BlobDigests.Add(Digests.Compute(BitConverter.GetBytes(i)));
        }

        Assert.True(request.CalculateSize() > limit);

        var error = await Assert.ThrowsAsync<RpcException>(() => _node.Rpc.Cas.FindMissingBlobsAsync(request).ResponseAsync);
        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
    }

    [Fact]
    public async Task A_large_blob_rotten_on_disk_fails_its_read_with_data_loss_and_is_missing_afterwards()
    {
        var blob = new byte[3 << 20];
        new Random(5).NextBytes(blob);
        var digest = Digests.Compute(blob);
        using (var write = _node.Rpc.ByteStream.Write())
        {
            var name = $"uploads/{Guid.NewGuid()}/blobs/{digest.Hash}/{digest.SizeBytes}";
            for (var offset = 0; offset < blob.Length; offset += 1 << 20)
            {
                await write.RequestStream.WriteAsync(new WriteRequest
                {
                    ResourceName = offset == 0 ? name : "",
                    WriteOffset = offset,
                    Data = ByteString.CopyFrom(blob, offset, 1 << 20),
                    FinishWrite = offset + (1 << 20) == blob.Length,
                });
            }

            await write.RequestStream.CompleteAsync();
            await write.ResponseAsync;
        }

        var file = Assert.Single(System.IO.Directory.EnumerateFiles(Path.Combine(_node.DataDirectory, "cas"), "*.blob", SearchOption.AllDirectories));
        await using (var stream = new FileStream(file, FileMode.Open, FileAccess.ReadWrite))
        {
            stream.Position = stream.Length - 1000;
            var b = stream.ReadByte();
            stream.Position = stream.Length - 1000;
            stream.WriteByte((byte)(b ^ 0xFF));
        }

        using (var read = _node.Rpc.ByteStream.Read(new ReadRequest { ResourceName = $"blobs/{digest.Hash}/{digest.SizeBytes}" }))
        {
            var error = await Assert.ThrowsAsync<RpcException>(async () =>
            {
                while (await read.ResponseStream.MoveNext())
                {
                }
            });
            Assert.Equal(StatusCode.DataLoss, error.StatusCode);
        }

        var missing = await _node.Rpc.Cas.FindMissingBlobsAsync(new FindMissingBlobsRequest { BlobDigests = { digest } }).ResponseAsync;
        Assert.Single(missing.MissingBlobDigests);
        Assert.Equal(1, _node.Head.CacheStats().Total.Corrupt);
    }
}
