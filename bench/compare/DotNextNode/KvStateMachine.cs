using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using DotNext.IO;
using DotNext.Net.Cluster.Consensus.Raft.StateMachine;

namespace RaftHead.Compare.DotNextNode;

/// <summary>
/// The same key-value store as our node host's (command: <c>i32 LE key length | key UTF-8 | value</c>), on DotNext's
/// <see cref="SimpleStateMachine"/>: in memory, with a snapshot written every <c>snapshotEntries</c> applied entries
/// (as our node and etcd). A put proposed here carries a completion as its context, finished with the index it was
/// applied at, so a put is answered once committed and applied on the leader, as on ours.
/// </summary>
internal sealed class KvStateMachine(DirectoryInfo location, long snapshotEntries) : SimpleStateMachine(location)
{
    private readonly Lock _gate = new();
    private Dictionary<string, byte[]> _values = new(StringComparer.Ordinal);

    public long Applied { get; private set; }

    protected override ValueTask<bool> ApplyAsync(LogEntry entry, CancellationToken token)
    {
        if (entry.TryGetPayload(out var payload) && payload.Length >= 4)
        {
            var command = payload.IsSingleSegment ? payload.First.Span : payload.ToArray();
            var keyBytes = BinaryPrimitives.ReadInt32LittleEndian(command);
            if (keyBytes >= 0 && keyBytes <= command.Length - 4)
            {
                var key = Encoding.UTF8.GetString(command.Slice(4, keyBytes));
                var value = command[(4 + keyBytes)..].ToArray();
                lock (_gate) _values[key] = value;
            }
        }
        Applied = entry.Index;
        (entry.Context as TaskCompletionSource<long>)?.TrySetResult(entry.Index);
        return ValueTask.FromResult(entry.Index % snapshotEntries == 0);
    }

    protected override async ValueTask PersistAsync(IAsyncBinaryWriter writer, CancellationToken token)
    {
        byte[] image;
        lock (_gate)
        {
            var buffer = new ArrayBufferWriter<byte>();
            BinaryPrimitives.WriteInt32LittleEndian(buffer.GetSpan(4), _values.Count);
            buffer.Advance(4);
            foreach (var (key, value) in _values)
            {
                var k = Encoding.UTF8.GetBytes(key);
                BinaryPrimitives.WriteInt32LittleEndian(buffer.GetSpan(4), k.Length);
                buffer.Advance(4);
                buffer.Write(k);
                BinaryPrimitives.WriteInt32LittleEndian(buffer.GetSpan(4), value.Length);
                buffer.Advance(4);
                buffer.Write(value);
            }
            image = buffer.WrittenSpan.ToArray();
        }
        await writer.Invoke(image, token);
    }

    protected override async ValueTask RestoreAsync(FileInfo snapshotFile, CancellationToken token)
    {
        var image = await File.ReadAllBytesAsync(snapshotFile.FullName, token);
        var values = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        var span = image.AsSpan();
        var count = BinaryPrimitives.ReadInt32LittleEndian(span);
        var at = 4;
        for (var i = 0; i < count; i++)
        {
            var kl = BinaryPrimitives.ReadInt32LittleEndian(span[at..]);
            var key = Encoding.UTF8.GetString(span.Slice(at + 4, kl));
            at += 4 + kl;
            var vl = BinaryPrimitives.ReadInt32LittleEndian(span[at..]);
            values[key] = span.Slice(at + 4, vl).ToArray();
            at += 4 + vl;
        }
        lock (_gate) _values = values;
    }
}
