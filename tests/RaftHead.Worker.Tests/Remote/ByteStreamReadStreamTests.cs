using Google.ByteStream;
using Google.Protobuf;
using Grpc.Core;
using RaftHead.Storage.Remote;

namespace RaftHead.Worker.Tests.Remote;

/// <summary><see cref="ByteStreamReadStream"/> over a scripted call, with and without read-ahead.</summary>
public sealed class ByteStreamReadStreamTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    public async Task The_messages_bytes_come_out_in_order(int readAhead)
    {
        var chunks = Chunks(7, 1000);
        var (call, reader) = Call(chunks, failAfter: null);
        await using var stream = await OpenAsync(call, reader, chunks.Sum(c => c.Length), readAhead);
        using var copy = new MemoryStream();

        await stream.CopyToAsync(copy, 333).WaitAsync(Deadline);

        Assert.Equal(chunks.SelectMany(c => c).ToArray(), copy.ToArray());
    }

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    public async Task A_call_that_breaks_off_fails_the_read_after_the_bytes_that_came(int readAhead)
    {
        var chunks = Chunks(5, 1000);
        var (call, reader) = Call(chunks, failAfter: 3);
        await using var stream = await OpenAsync(call, reader, chunks.Sum(c => c.Length), readAhead);
        var buffer = new byte[10_000];
        var read = 0;

        var error = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            int n;
            while ((n = await stream.ReadAsync(buffer.AsMemory(read)).AsTask().WaitAsync(Deadline)) > 0)
            {
                read += n;
            }
        });

        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
        Assert.Equal(3000, read);
    }

    [Fact]
    public async Task Disposing_mid_read_stops_the_read_ahead()
    {
        var chunks = Chunks(50, 100);
        var (call, reader) = Call(chunks, failAfter: null);
        var stream = await OpenAsync(call, reader, chunks.Sum(c => c.Length), readAhead: 2);
        var first = new byte[100];
        await stream.ReadExactlyAsync(first).AsTask().WaitAsync(Deadline);

        await stream.DisposeAsync();

        await reader.Stopped.Task.WaitAsync(Deadline);
        Assert.True(reader.Delivered < chunks.Length, $"{reader.Delivered} of {chunks.Length} messages were taken after the dispose");
    }

    private static async Task<ByteStreamReadStream> OpenAsync(AsyncServerStreamingCall<ReadResponse> call, ScriptedReader reader, long length, int readAhead)
    {
        var any = await reader.MoveNext(CancellationToken.None);
        return new ByteStreamReadStream(call, any, length, readAhead);
    }

    private static byte[][] Chunks(int count, int size)
    {
        var random = new Random(count * size);
        var chunks = new byte[count][];
        for (var i = 0; i < count; i++)
        {
            random.NextBytes(chunks[i] = new byte[size]);
        }

        return chunks;
    }

    private static (AsyncServerStreamingCall<ReadResponse> Call, ScriptedReader Reader) Call(byte[][] chunks, int? failAfter)
    {
        var reader = new ScriptedReader(chunks, failAfter);
        var call = new AsyncServerStreamingCall<ReadResponse>(reader, Task.FromResult(new Metadata()), () => Status.DefaultSuccess, () => new Metadata(), reader.Cancel);
        return (call, reader);
    }

    /// <summary>Hands out the chunks one message at a time; fails with UNAVAILABLE after <c>failAfter</c>; a dispose cancels what waits.</summary>
    private sealed class ScriptedReader(byte[][] chunks, int? failAfter) : IAsyncStreamReader<ReadResponse>
    {
        private readonly CancellationTokenSource _disposed = new();
        private int _next;

        public ReadResponse Current { get; private set; } = null!;

        public int Delivered => Volatile.Read(ref _next);

        public TaskCompletionSource Stopped { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Cancel()
        {
            _disposed.Cancel();
            Stopped.TrySetResult();
        }

        public async Task<bool> MoveNext(CancellationToken cancellationToken)
        {
            await Task.Yield();
            if (_disposed.IsCancellationRequested || cancellationToken.IsCancellationRequested)
            {
                throw new RpcException(new Status(StatusCode.Cancelled, "the call was disposed"));
            }

            if (failAfter is { } n && _next == n)
            {
                throw new RpcException(new Status(StatusCode.Unavailable, "the peer went away"));
            }

            if (_next == chunks.Length)
            {
                return false;
            }

            Current = new ReadResponse { Data = ByteString.CopyFrom(chunks[_next]) };
            Interlocked.Increment(ref _next);
            return true;
        }
    }
}
