using RaftHead.Consensus.Core;
using RaftHead.Consensus.Membership;
using RaftHead.Consensus.Transport;

namespace RaftHead.Consensus.Tests.Transport;

public sealed class RaftMessageCodecTests
{
    public static TheoryData<MessageType> AllTypes()
    {
        var data = new TheoryData<MessageType>();
        foreach (var type in Enum.GetValues<MessageType>()) data.Add(type);
        return data;
    }

    [Theory]
    [MemberData(nameof(AllTypes))]
    public void Every_message_type_round_trips_with_every_field_set(MessageType type)
    {
        var message = Full(type);
        AssertSame(message, RaftMessageCodec.Decode(RaftMessageCodec.Encode(message)));
    }

    [Theory]
    [MemberData(nameof(AllTypes))]
    public void Every_message_type_round_trips_with_defaults(MessageType type)
    {
        var message = new Message
        {
            Type = type,
            From = 1,
            To = 2,
            SnapshotMetadata = type == MessageType.SnapshotChunk ? SnapshotMetadata.Empty : null,
        };
        var bytes = RaftMessageCodec.Encode(message);
        AssertSame(message, RaftMessageCodec.Decode(bytes));
        Assert.True(bytes.Length < 24, $"a bare message should be compact, got {bytes.Length} bytes");
    }

    [Fact]
    public void Snapshot_chunks_round_trip_in_pieces_that_reassemble_the_snapshot()
    {
        var data = Enumerable.Range(0, 10_000).Select(i => (byte)(i * 31)).ToArray();
        var metadata = new SnapshotMetadata(500, 7, new ClusterMembership([1, 2, 3], [4]));
        var received = new byte[data.Length];
        for (var offset = 0; offset < data.Length; offset += 4096)
        {
            var chunk = data.AsMemory(offset, Math.Min(4096, data.Length - offset));
            var message = new Message
            {
                Type = MessageType.SnapshotChunk,
                From = 1,
                To = 3,
                Term = 9,
                SnapshotMetadata = metadata,
                ChunkOffset = offset,
                ChunkData = chunk,
                SnapshotTotalBytes = data.Length,
            };
            var decoded = RaftMessageCodec.Decode(RaftMessageCodec.Encode(message));
            AssertSame(message, decoded);
            decoded.ChunkData.Span.CopyTo(received.AsSpan((int)decoded.ChunkOffset));
        }
        Assert.Equal(data, received);
    }

    [Fact]
    public void Large_field_values_round_trip()
    {
        var message = Full(MessageType.Append) with { Term = long.MaxValue, Index = long.MaxValue - 1, Commit = 1L << 40 };
        AssertSame(message, RaftMessageCodec.Decode(RaftMessageCodec.Encode(message)));
    }

    [Fact]
    public void Decoding_never_aliases_the_input()
    {
        var bytes = RaftMessageCodec.Encode(Full(MessageType.Append));
        var decoded = RaftMessageCodec.Decode(bytes);
        Array.Clear(bytes);
        AssertSame(Full(MessageType.Append), decoded);
    }

    [Theory]
    [MemberData(nameof(AllTypes))]
    public void Every_truncation_is_rejected(MessageType type)
    {
        var bytes = RaftMessageCodec.Encode(Full(type));
        for (var length = 0; length < bytes.Length; length++)
        {
            Assert.Throws<FormatException>(() => RaftMessageCodec.Decode(bytes.AsSpan(0, length)));
        }
    }

    [Fact]
    public void Trailing_bytes_are_rejected()
    {
        var bytes = RaftMessageCodec.Encode(Full(MessageType.Heartbeat));
        Assert.Throws<FormatException>(() => RaftMessageCodec.Decode([.. bytes, 0]));
    }

    [Fact]
    public void Unknown_version_type_flags_and_entry_type_are_rejected()
    {
        var bytes = RaftMessageCodec.Encode(new Message { Type = MessageType.Append, From = 1, To = 2, Entries = [new LogEntry(1, 1, EntryType.Normal, new byte[] { 5 })] });
        Assert.Throws<FormatException>(() => RaftMessageCodec.Decode(With(bytes, 0, 2)));
        Assert.Throws<FormatException>(() => RaftMessageCodec.Decode(With(bytes, 1, 200)));
        Assert.Throws<FormatException>(() => RaftMessageCodec.Decode(With(bytes, 2, 0x80)));
        // Header (3) + nine one-byte varints + empty context (1) + count (1) + term (1) + index (1) = the entry type.
        var entryTypeAt = 3 + 9 + 1 + 1 + 1 + 1;
        Assert.Equal((byte)EntryType.Normal, bytes[entryTypeAt]);
        Assert.Throws<FormatException>(() => RaftMessageCodec.Decode(With(bytes, entryTypeAt, 9)));
    }

    [Fact]
    public void Lying_lengths_and_counts_are_rejected()
    {
        // A context claiming 100 bytes with 0 left.
        byte[] header = [RaftMessageCodec.Version, (byte)MessageType.Heartbeat, 0, 1, 2, 0, 0, 0, 0, 0, 0, 0];
        Assert.Throws<FormatException>(() => RaftMessageCodec.Decode([.. header, 100]));
        // A count of a million entries with 2 bytes left.
        Assert.Throws<FormatException>(() => RaftMessageCodec.Decode([.. header, 0, 0xC0, 0x84, 0x3D, 0, 0]));
    }

    [Fact]
    public void Malformed_varints_are_rejected()
    {
        byte[] prefix = [RaftMessageCodec.Version, (byte)MessageType.Heartbeat, 0];
        // Eleven continuation bytes.
        Assert.Throws<FormatException>(() => RaftMessageCodec.Decode([.. prefix, .. Enumerable.Repeat((byte)0xFF, 11)]));
        // 2^63: beyond a non-negative long.
        Assert.Throws<FormatException>(() => RaftMessageCodec.Decode([.. prefix, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]));
        // Not minimal: 1 encoded in two bytes.
        Assert.Throws<FormatException>(() => RaftMessageCodec.Decode([.. prefix, 0x81, 0x00]));
    }

    [Fact]
    public void Snapshot_chunks_must_be_coherent()
    {
        var chunk = Full(MessageType.SnapshotChunk);
        Assert.Throws<FormatException>(() => RaftMessageCodec.Decode(RaftMessageCodec.Encode(chunk with { SnapshotMetadata = null })));
        Assert.Throws<FormatException>(() => RaftMessageCodec.Decode(RaftMessageCodec.Encode(chunk with { SnapshotTotalBytes = chunk.ChunkOffset + chunk.ChunkData.Length - 1 })));
        Assert.Throws<FormatException>(() => RaftMessageCodec.Decode(RaftMessageCodec.Encode(chunk with { SnapshotTotalBytes = (long)Array.MaxLength + 1 })));
    }

    [Fact]
    public void An_invalid_membership_is_rejected()
    {
        // Voters [1, 2] and learners [2]: a node cannot be both. Built by hand since ClusterMembership refuses it.
        var valid = RaftMessageCodec.Encode(new Message
        {
            Type = MessageType.SnapshotChunk,
            From = 1,
            To = 2,
            SnapshotMetadata = new SnapshotMetadata(5, 1, new ClusterMembership([1, 2], [3])),
        });
        var learnerAt = Array.LastIndexOf(valid, (byte)3);
        Assert.Throws<FormatException>(() => RaftMessageCodec.Decode(With(valid, learnerAt, 2)));
    }

    [Fact]
    public void Negative_fields_cannot_be_encoded()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => RaftMessageCodec.Encode(new Message { Type = MessageType.Append, Term = -1 }));
    }

    [Fact]
    public void Random_garbage_never_escapes_as_anything_but_a_format_exception()
    {
        var random = new Random(42);
        var valid = RaftMessageCodec.Encode(Full(MessageType.Append));
        for (var i = 0; i < 5000; i++)
        {
            var bytes = (byte[])valid.Clone();
            for (var flips = random.Next(1, 4); flips > 0; flips--) bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
            try
            {
                RaftMessageCodec.Decode(bytes);
            }
            catch (FormatException)
            {
            }
        }
    }

    [Fact]
    public void A_frame_of_one_message_is_the_message_itself_and_a_batch_round_trips_in_order()
    {
        var scratch = new System.Buffers.ArrayBufferWriter<byte>();
        var single = new System.Buffers.ArrayBufferWriter<byte>();
        RaftMessageCodec.EncodeFrame([Full(MessageType.Append)], single, scratch);
        Assert.Equal(RaftMessageCodec.Encode(Full(MessageType.Append)), single.WrittenSpan.ToArray());

        var messages = Enum.GetValues<MessageType>().Select(Full).ToList();
        var frame = new System.Buffers.ArrayBufferWriter<byte>();
        RaftMessageCodec.EncodeFrame(messages, frame, scratch);
        Assert.Equal(RaftMessageCodec.BatchVersion, frame.WrittenSpan[0]);
        var decoded = new List<Message> { Full(MessageType.Heartbeat) };
        RaftMessageCodec.DecodeFrame(frame.WrittenSpan, decoded);
        Assert.Equal(messages.Count + 1, decoded.Count);
        for (var i = 0; i < messages.Count; i++) AssertSame(messages[i], decoded[i + 1]);
        Assert.True(frame.WrittenCount <= messages.Sum(RaftMessageCodec.SizeBound), "the size bound must bound the frame");
    }

    [Fact]
    public void A_malformed_batch_is_refused_whole()
    {
        var scratch = new System.Buffers.ArrayBufferWriter<byte>();
        var frame = new System.Buffers.ArrayBufferWriter<byte>();
        RaftMessageCodec.EncodeFrame([Full(MessageType.Heartbeat), Full(MessageType.Append)], frame, scratch);
        var bytes = frame.WrittenSpan.ToArray();
        var decoded = new List<Message>();
        for (var length = 1; length < bytes.Length; length++)
        {
            Assert.Throws<FormatException>(() => RaftMessageCodec.DecodeFrame(bytes.AsSpan(0, length), decoded));
            Assert.Empty(decoded);
        }
        Assert.Throws<FormatException>(() => RaftMessageCodec.DecodeFrame([.. bytes, 0], decoded));
        // A batch of one, and a batch whose count claims more messages than it carries.
        Assert.Throws<FormatException>(() => RaftMessageCodec.DecodeFrame([RaftMessageCodec.BatchVersion, 1, .. bytes.AsSpan(2)], decoded));
        Assert.Throws<FormatException>(() => RaftMessageCodec.DecodeFrame(With(bytes, 1, 3), decoded));
        Assert.Empty(decoded);
        Assert.Throws<ArgumentOutOfRangeException>(() => RaftMessageCodec.EncodeFrame([], frame, scratch));
    }

    private static byte[] With(byte[] bytes, int at, byte value)
    {
        var copy = (byte[])bytes.Clone();
        copy[at] = value;
        return copy;
    }

    private static Message Full(MessageType type) => new()
    {
        Type = type,
        From = 3,
        To = 200,
        Term = 17,
        LogTerm = 16,
        Index = 123_456,
        Commit = 123_000,
        Reject = true,
        RejectHint = 99,
        Context = new byte[] { 1, 2, 3, 4, 5, 6, 7, 8 },
        LeaderTransfer = true,
        Entries =
        [
            new LogEntry(16, 123_457, EntryType.Normal, ReadOnlyMemory<byte>.Empty),
            new LogEntry(17, 123_458, EntryType.Normal, new byte[300]),
            new LogEntry(17, 123_459, EntryType.MembershipChange, new MembershipChange(MembershipChangeKind.AddLearner, 4).Encode()),
        ],
        SnapshotMetadata = new SnapshotMetadata(100_000, 12, new ClusterMembership([1, 2, 3, 200], [4, 5])),
        ChunkOffset = 1024,
        ChunkData = Enumerable.Range(0, 1000).Select(i => (byte)i).ToArray(),
        SnapshotTotalBytes = 1 << 20,
    };

    private static void AssertSame(Message expected, Message actual)
    {
        Assert.Equal(expected.Type, actual.Type);
        Assert.Equal(expected.From, actual.From);
        Assert.Equal(expected.To, actual.To);
        Assert.Equal(expected.Term, actual.Term);
        Assert.Equal(expected.LogTerm, actual.LogTerm);
        Assert.Equal(expected.Index, actual.Index);
        Assert.Equal(expected.Commit, actual.Commit);
        Assert.Equal(expected.Reject, actual.Reject);
        Assert.Equal(expected.RejectHint, actual.RejectHint);
        Assert.Equal(expected.Context.ToArray(), actual.Context.ToArray());
        Assert.Equal(expected.LeaderTransfer, actual.LeaderTransfer);
        Assert.Equal(expected.Entries.Count, actual.Entries.Count);
        for (var i = 0; i < expected.Entries.Count; i++)
        {
            Assert.Equal(expected.Entries[i].Term, actual.Entries[i].Term);
            Assert.Equal(expected.Entries[i].Index, actual.Entries[i].Index);
            Assert.Equal(expected.Entries[i].Type, actual.Entries[i].Type);
            Assert.Equal(expected.Entries[i].Data.ToArray(), actual.Entries[i].Data.ToArray());
        }
        Assert.Equal(expected.SnapshotMetadata, actual.SnapshotMetadata);
        Assert.Equal(expected.ChunkOffset, actual.ChunkOffset);
        Assert.Equal(expected.ChunkData.ToArray(), actual.ChunkData.ToArray());
        Assert.Equal(expected.SnapshotTotalBytes, actual.SnapshotTotalBytes);
    }
}
