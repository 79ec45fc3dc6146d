using System.Buffers;
using System.Diagnostics;
using RaftHead.Consensus.Core;
using RaftHead.Consensus.Membership;

namespace RaftHead.Consensus.Transport;

/// <summary>
/// The compact binary wire form of a <see cref="Message"/>, carried inside a protobuf <c>BytesValue</c> on the
/// peer stream. Layout (all integers unsigned LEB128 varints; every field of a Raft message is non-negative):
/// <code>
/// u8 version(1) | u8 type | u8 flags(1 reject, 2 leaderTransfer, 4 snapshotMetadata)
/// from | to | term | logTerm | index | commit | rejectHint | chunkOffset | snapshotTotalBytes
/// bytes context
/// count entries, each: term | index | u8 entryType | bytes data
/// [snapshot metadata: index | term | count voters, ids... | count learners, ids...]
/// bytes chunkData
/// </code>
/// where <c>bytes</c> is a varint length followed by that many bytes. Decoding checks every length against what
/// is left, every enum against its defined values, and that nothing trails the message: malformed input is a
/// <see cref="FormatException"/>, never a crash of the core.
/// <para>
/// A frame (one <c>BytesValue</c> on the stream) is either one message as above, or a batch of messages for the
/// same peer, in order, so that a sender writes and flushes once for all it has queued:
/// <code>
/// u8 batchVersion(2) | count | count × (bytes message)
/// </code>
/// Each message of a batch is a complete version-1 message. The first byte tells the two apart.
/// </para>
/// </summary>
public static class RaftMessageCodec
{
    public const byte Version = 1;

    /// <summary>First byte of a frame that carries several messages (see the type's remarks).</summary>
    public const byte BatchVersion = 2;

    /// <summary>Bound on the messages of one batch frame.</summary>
    public const int MaxBatchMessages = 1 << 16;

    /// <summary>Bound on the entries of one message (the core sends at most <c>MaxEntriesPerMessage</c>).</summary>
    public const int MaxEntries = 1 << 20;

    /// <summary>Bound on each member list of a snapshot's membership.</summary>
    public const int MaxMembers = 1 << 16;

    private const byte FlagReject = 1;
    private const byte FlagLeaderTransfer = 2;
    private const byte FlagSnapshotMetadata = 4;
    private const byte KnownFlags = FlagReject | FlagLeaderTransfer | FlagSnapshotMetadata;

    public static byte[] Encode(Message message)
    {
        ArgumentNullException.ThrowIfNull(message);
        var buffer = new ArrayBufferWriter<byte>(64 + message.ChunkData.Length + message.Context.Length + (message.Entries.Count * 16));
        Encode(message, buffer);
        return buffer.WrittenSpan.ToArray();
    }

    public static void Encode(Message m, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(m);
        ArgumentNullException.ThrowIfNull(output);
        var w = new Writer(output);
        w.Byte(Version);
        w.Byte((byte)m.Type);
        var flags = (byte)((m.Reject ? FlagReject : 0) | (m.LeaderTransfer ? FlagLeaderTransfer : 0) | (m.SnapshotMetadata is not null ? FlagSnapshotMetadata : 0));
        w.Byte(flags);
        w.Varint(m.From);
        w.Varint(m.To);
        w.Varint(m.Term);
        w.Varint(m.LogTerm);
        w.Varint(m.Index);
        w.Varint(m.Commit);
        w.Varint(m.RejectHint);
        w.Varint(m.ChunkOffset);
        w.Varint(m.SnapshotTotalBytes);
        w.Bytes(m.Context.Span);
        w.Varint(m.Entries.Count);
        foreach (var e in m.Entries)
        {
            w.Varint(e.Term);
            w.Varint(e.Index);
            w.Byte((byte)e.Type);
            w.Bytes(e.Data.Span);
        }
        if (m.SnapshotMetadata is { } meta)
        {
            w.Varint(meta.Index);
            w.Varint(meta.Term);
            w.Varint(meta.Membership.Voters.Count);
            foreach (var v in meta.Membership.Voters) w.Varint(v);
            w.Varint(meta.Membership.Learners.Count);
            foreach (var l in meta.Membership.Learners) w.Varint(l);
        }
        w.Bytes(m.ChunkData.Span);
    }

    /// <summary>
    /// An upper bound on the encoded size of <paramref name="message"/> inside a batch (fixed fields and varints
    /// counted at their longest), without encoding it: how a sender keeps a frame under its budget.
    /// </summary>
    public static long SizeBound(Message message)
    {
        ArgumentNullException.ThrowIfNull(message);
        // Header bytes, 9 varints, 3 lengths, the entry count, the snapshot metadata's fixed part, and the batch's
        // length prefix, each at most 10 bytes.
        long size = 3 + (16 * 10) + message.Context.Length + message.ChunkData.Length;
        var entries = message.Entries;
        for (var i = 0; i < entries.Count; i++) size += 31 + entries[i].Data.Length;
        if (message.SnapshotMetadata is { } meta) size += 10L * (meta.Membership.Voters.Count + meta.Membership.Learners.Count);
        return size;
    }

    /// <summary>
    /// Writes <paramref name="messages"/> as one frame: a plain message when there is one, a batch otherwise.
    /// <paramref name="scratch"/> holds each encoded message before it is length-prefixed (reused, never kept).
    /// </summary>
    public static void EncodeFrame(IReadOnlyList<Message> messages, IBufferWriter<byte> output, ArrayBufferWriter<byte> scratch)
    {
        ArgumentNullException.ThrowIfNull(messages);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(scratch);
        if (messages.Count == 0 || messages.Count > MaxBatchMessages) throw new ArgumentOutOfRangeException(nameof(messages), messages.Count, $"A frame carries 1 to {MaxBatchMessages} messages.");
        if (messages.Count == 1)
        {
            Encode(messages[0], output);
            return;
        }
        var w = new Writer(output);
        w.Byte(BatchVersion);
        w.Varint(messages.Count);
        for (var i = 0; i < messages.Count; i++)
        {
            scratch.ResetWrittenCount();
            Encode(messages[i], scratch);
            w.Bytes(scratch.WrittenSpan);
        }
    }

    /// <summary>
    /// Decodes a frame (one message or a batch) into <paramref name="messages"/>, in order. Nothing is added when
    /// the frame is malformed anywhere (<see cref="FormatException"/>), so a bad batch is refused whole.
    /// </summary>
    public static void DecodeFrame(ReadOnlySpan<byte> frame, List<Message> messages)
    {
        ArgumentNullException.ThrowIfNull(messages);
        if (frame.IsEmpty || frame[0] != BatchVersion)
        {
            messages.Add(Decode(frame));
            return;
        }
        var start = messages.Count;
        try
        {
            var r = new Reader(frame[1..]);
            var count = r.Count(MaxBatchMessages, "batched messages");
            if (count < 2) throw new FormatException($"A batch of {count} message(s); one message travels on its own.");
            for (var i = 0; i < count; i++) messages.Add(Decode(r.Slice()));
            if (!r.End) throw new FormatException($"{r.Remaining} unexpected bytes after a batch of Raft messages.");
        }
        catch (FormatException)
        {
            messages.RemoveRange(start, messages.Count - start);
            throw;
        }
    }

    /// <summary>Decodes one message; the result copies what it needs and never aliases <paramref name="bytes"/>.</summary>
    public static Message Decode(ReadOnlySpan<byte> bytes)
    {
        var r = new Reader(bytes);
        var version = r.Byte();
        if (version != Version) throw new FormatException($"Unknown Raft message version {version}.");
        var type = (MessageType)r.Byte();
        if (!Enum.IsDefined(type)) throw new FormatException($"Unknown Raft message type {(byte)type}.");
        var flags = r.Byte();
        if ((flags & ~KnownFlags) != 0) throw new FormatException($"Unknown Raft message flags 0x{flags:x2}.");
        var from = r.Varint();
        var to = r.Varint();
        var term = r.Varint();
        var logTerm = r.Varint();
        var index = r.Varint();
        var commit = r.Varint();
        var rejectHint = r.Varint();
        var chunkOffset = r.Varint();
        var totalBytes = r.Varint();
        if (totalBytes > Array.MaxLength) throw new FormatException($"Snapshot size {totalBytes} out of range.");
        var context = r.Bytes();
        var entryCount = r.Count(MaxEntries, "entries");
        var entries = entryCount == 0 ? Array.Empty<LogEntry>() : new LogEntry[entryCount];
        for (var i = 0; i < entryCount; i++)
        {
            var eTerm = r.Varint();
            var eIndex = r.Varint();
            var eType = (EntryType)r.Byte();
            if (!Enum.IsDefined(eType)) throw new FormatException($"Unknown entry type {(byte)eType}.");
            entries[i] = new LogEntry(eTerm, eIndex, eType, r.Bytes());
        }
        SnapshotMetadata? metadata = null;
        if ((flags & FlagSnapshotMetadata) != 0)
        {
            var sIndex = r.Varint();
            var sTerm = r.Varint();
            var voters = r.Ids();
            var learners = r.Ids();
            ClusterMembership membership;
            try
            {
                membership = new ClusterMembership(voters, learners);
            }
            catch (ArgumentException e)
            {
                throw new FormatException($"Invalid snapshot membership: {e.Message}", e);
            }
            metadata = new SnapshotMetadata(sIndex, sTerm, membership);
        }
        var chunk = r.Bytes();
        if (!r.End) throw new FormatException($"{r.Remaining} unexpected bytes after a Raft message.");
        if (type == MessageType.SnapshotChunk && metadata is null) throw new FormatException("A snapshot chunk without snapshot metadata.");
        if (type == MessageType.SnapshotChunk && chunkOffset + chunk.Length > totalBytes)
        {
            throw new FormatException($"A snapshot chunk of {chunk.Length} bytes at {chunkOffset} beyond the snapshot's {totalBytes} bytes.");
        }
        return new Message
        {
            Type = type,
            From = from,
            To = to,
            Term = term,
            LogTerm = logTerm,
            Index = index,
            Commit = commit,
            Reject = (flags & FlagReject) != 0,
            RejectHint = rejectHint,
            Context = context,
            LeaderTransfer = (flags & FlagLeaderTransfer) != 0,
            Entries = entries,
            SnapshotMetadata = metadata,
            ChunkOffset = chunkOffset,
            ChunkData = chunk,
            SnapshotTotalBytes = totalBytes,
        };
    }

    private ref struct Writer
    {
        private readonly IBufferWriter<byte> _output;

        public Writer(IBufferWriter<byte> output) => _output = output;

        public readonly void Byte(byte value)
        {
            _output.GetSpan(1)[0] = value;
            _output.Advance(1);
        }

        public readonly void Varint(long value)
        {
            if (value < 0) throw new ArgumentOutOfRangeException(nameof(value), value, "Raft message fields are never negative.");
            var span = _output.GetSpan(10);
            var n = 0;
            var v = (ulong)value;
            while (v >= 0x80)
            {
                span[n++] = (byte)(v | 0x80);
                v >>= 7;
            }
            span[n++] = (byte)v;
            _output.Advance(n);
        }

        public readonly void Bytes(ReadOnlySpan<byte> bytes)
        {
            Varint(bytes.Length);
            if (bytes.IsEmpty) return;
            bytes.CopyTo(_output.GetSpan(bytes.Length));
            _output.Advance(bytes.Length);
        }
    }

    private ref struct Reader
    {
        private readonly ReadOnlySpan<byte> _bytes;
        private int _position;

        public Reader(ReadOnlySpan<byte> bytes)
        {
            _bytes = bytes;
            _position = 0;
        }

        public readonly bool End => _position == _bytes.Length;

        public readonly int Remaining => _bytes.Length - _position;

        public byte Byte()
        {
            if (_position >= _bytes.Length) throw Truncated();
            return _bytes[_position++];
        }

        public long Varint()
        {
            ulong result = 0;
            for (var shift = 0; shift < 64; shift += 7)
            {
                var b = Byte();
                if (shift == 63 && b > 1) throw new FormatException("A varint exceeds 64 bits.");
                result |= (ulong)(b & 0x7F) << shift;
                if ((b & 0x80) == 0)
                {
                    if (result > long.MaxValue) throw new FormatException("A varint exceeds the range of a non-negative 64-bit integer.");
                    if (shift > 0 && b == 0) throw new FormatException("A varint is not minimally encoded.");
                    return (long)result;
                }
            }
            throw new FormatException("A varint is longer than 10 bytes.");
        }

        public int Count(int max, string what)
        {
            var count = Varint();
            // Every counted item takes at least one byte, so a count beyond what is left is a lie.
            if (count > max || count > Remaining) throw new FormatException($"Count of {what} {count} out of range.");
            return (int)count;
        }

        public byte[] Bytes()
        {
            var length = Varint();
            if (length > Remaining) throw new FormatException($"A field of {length} bytes with only {Remaining} left.");
            if (length == 0) return Array.Empty<byte>();
            var result = _bytes.Slice(_position, (int)length).ToArray();
            _position += (int)length;
            Debug.Assert(_position <= _bytes.Length);
            return result;
        }

        /// <summary>A length-prefixed field as a view of the input (for a batch's messages, decoded in place).</summary>
        public ReadOnlySpan<byte> Slice()
        {
            var length = Varint();
            if (length > Remaining) throw new FormatException($"A field of {length} bytes with only {Remaining} left.");
            var result = _bytes.Slice(_position, (int)length);
            _position += (int)length;
            return result;
        }

        public long[] Ids()
        {
            var count = Count(MaxMembers, "members");
            var ids = new long[count];
            for (var i = 0; i < count; i++) ids[i] = Varint();
            return ids;
        }

        private readonly FormatException Truncated() => new($"A Raft message is truncated at byte {_position}.");
    }
}
