using System.Collections.Concurrent;
using Build.Bazel.Remote.Execution.V2;
using RaftHead.Storage;

namespace RaftHead.Worker.Tests.Peer;

/// <summary>The heads, in memory: every blob they hold, and how many reads they answered.</summary>
internal sealed class CountingHeads : IBlobStore
{
    private readonly ConcurrentDictionary<(string, long), byte[]> _blobs = new();
    private int _reads;

    public int Reads => Volatile.Read(ref _reads);

    public void Hold(Digest digest, byte[] bytes) => _blobs[(digest.Hash, digest.SizeBytes)] = bytes;

    public bool Holds(Digest digest) => _blobs.ContainsKey((digest.Hash, digest.SizeBytes));

    public ValueTask FindMissingAsync(string instanceName, IReadOnlyList<Digest> digests, List<Digest> missing, CancellationToken cancellationToken)
    {
        foreach (var digest in digests)
        {
            if (!Holds(digest))
            {
                missing.Add(digest);
            }
        }

        return ValueTask.CompletedTask;
    }

    public ValueTask PutAsync(string instanceName, Digest digest, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        Hold(digest, data.ToArray());
        return ValueTask.CompletedTask;
    }

    public IBlobWriter BeginWrite(string instanceName, Digest digest) => new Writer(this, digest);

    public ValueTask<Stream?> OpenReadAsync(string instanceName, Digest digest, long offset, long limit, CancellationToken cancellationToken)
    {
        if (!_blobs.TryGetValue((digest.Hash, digest.SizeBytes), out var bytes))
        {
            return ValueTask.FromResult<Stream?>(null);
        }

        Interlocked.Increment(ref _reads);
        return ValueTask.FromResult<Stream?>(new MemoryStream(bytes, writable: false));
    }

    public IDisposable Pin(string instanceName, Digest digest) => new MemoryStream();

    private sealed class Writer(CountingHeads heads, Digest digest) : IBlobWriter
    {
        private readonly MemoryStream _data = new();

        public long BytesWritten => _data.Length;

        public ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
        {
            _data.Write(data.Span);
            return ValueTask.CompletedTask;
        }

        public ValueTask CommitAsync(CancellationToken cancellationToken)
        {
            heads.Hold(digest, _data.ToArray());
            return ValueTask.CompletedTask;
        }

        public ValueTask DisposeAsync() => _data.DisposeAsync();
    }
}
