using System.Buffers.Binary;
using System.IO.Hashing;
using RaftHead.Consensus.Core;

namespace RaftHead.Consensus.Log;

/// <summary>
/// An incoming snapshot streamed into a temporary file of the log's directory in the snapshot file format, so the
/// transfer holds no more than a chunk in memory. <see cref="Complete"/> fills in the checksum, flushes and renames
/// the file into place (as <see cref="SnapshotFile.Write"/> would have), and reads the data back once: the log keeps
/// its snapshot in memory, from where a leader sends it. A crash leaves the temporary file, which open removes.
/// </summary>
internal sealed class FileSnapshotSink : IIncomingSnapshotSink, IDisposable
{
    public const string TemporaryName = "incoming-snapshot.tmp";

    private readonly string _directory;
    private readonly SnapshotMetadata _metadata;
    private readonly long _totalBytes;
    private readonly bool _flushToDisk;
    private readonly Action<Snapshot> _completed;
    private readonly byte[] _header;
    private readonly Crc32 _crc = RaftHead.Durability.Crc32C.CreateIncremental();
    private readonly FileStream _stream;
    private long _received;

    public FileSnapshotSink(string directory, SnapshotMetadata metadata, long totalBytes, bool flushToDisk, Action<Snapshot> completed)
    {
        if (totalBytes < 0 || totalBytes > Array.MaxLength) throw new ArgumentOutOfRangeException(nameof(totalBytes));
        _directory = directory;
        _metadata = metadata;
        _totalBytes = totalBytes;
        _flushToDisk = flushToDisk;
        _completed = completed;
        _header = SnapshotFile.EncodeHeader(metadata);
        _crc.Append(_header.AsSpan(12));
        _stream = new FileStream(Path.Combine(directory, TemporaryName), FileMode.Create, FileAccess.ReadWrite, FileShare.Read, bufferSize: 64 * 1024);
        _stream.Write(_header);
    }

    public void Append(ReadOnlySpan<byte> chunk)
    {
        if (chunk.Length > _totalBytes - _received) throw new ArgumentException($"A {chunk.Length}-byte chunk overruns the declared {_totalBytes} bytes.", nameof(chunk));
        _stream.Write(chunk);
        _crc.Append(chunk);
        _received += chunk.Length;
    }

    public Snapshot Complete()
    {
        if (_received != _totalBytes) throw new InvalidOperationException($"{_received} of {_totalBytes} bytes received.");
        BinaryPrimitives.WriteUInt32LittleEndian(_header.AsSpan(8), _crc.GetCurrentHashAsUInt32());
        _stream.Position = 8;
        _stream.Write(_header.AsSpan(8, 4));
        _stream.Flush(_flushToDisk);
        var data = new byte[_totalBytes];
        _stream.Position = _header.Length;
        _stream.ReadExactly(data);
        _stream.Dispose();
        SnapshotFile.Install(Path.Combine(_directory, TemporaryName), _directory, _metadata.Index, _flushToDisk);
        var snapshot = new Snapshot(_metadata, data);
        _completed(snapshot);
        return snapshot;
    }

    public void Dispose() => _stream.Dispose();
}
