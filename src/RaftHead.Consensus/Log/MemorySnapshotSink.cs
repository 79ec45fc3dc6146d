using System.Diagnostics;
using RaftHead.Consensus.Core;

namespace RaftHead.Consensus.Log;

/// <summary>
/// An incoming snapshot held in memory: the buffer grows with the bytes actually received (doubling, capped at the
/// declared size), never to the size a message merely claims.
/// </summary>
public sealed class MemorySnapshotSink(SnapshotMetadata metadata, long totalBytes) : IIncomingSnapshotSink
{
    private byte[] _data = [];
    private int _received;

    public void Append(ReadOnlySpan<byte> chunk)
    {
        if (chunk.Length > totalBytes - _received) throw new ArgumentException($"A {chunk.Length}-byte chunk overruns the declared {totalBytes} bytes.", nameof(chunk));
        var needed = _received + chunk.Length;
        if (needed > _data.Length)
        {
            // Doubling keeps copying linear; the cap keeps the last growth from overshooting the declared size.
            var grown = (int)Math.Min(totalBytes, Math.Max(needed, 2L * _data.Length));
            Array.Resize(ref _data, grown);
        }
        chunk.CopyTo(_data.AsSpan(_received));
        _received = needed;
        Debug.Assert(_received <= _data.Length);
    }

    public Snapshot Complete()
    {
        if (_received != totalBytes) throw new InvalidOperationException($"{_received} of {totalBytes} bytes received.");
        return new Snapshot(metadata, _data);
    }
}
