using System.Buffers.Binary;
using System.Globalization;
using RaftHead.Consensus.Core;
using RaftHead.Consensus.Membership;
using RaftHead.Durability;

namespace RaftHead.Consensus.Log;

/// <summary>
/// One snapshot per file, <c>snap-{index}.snap</c>: u64 magic, u32 CRC-32C of the rest, i64 index, i64 term,
/// i32 voter count, voters, i32 learner count, learners, then the data. Written to a temporary file, synced,
/// renamed into place and the directory synced, so a reader sees the whole snapshot or none of it.
/// </summary>
internal static class SnapshotFile
{
    private const ulong Magic = 0x3130_5041_4E53_4852; // "RHSNAP01" little-endian
    private const string Prefix = "snap-";
    private const string Suffix = ".snap";

    public static string PathFor(string directory, long index) =>
        System.IO.Path.Combine(directory, $"{Prefix}{index.ToString("D20", CultureInfo.InvariantCulture)}{Suffix}");

    public static IEnumerable<(long Index, string Path)> List(string directory)
    {
        foreach (var path in Directory.EnumerateFiles(directory, Prefix + "*" + Suffix))
        {
            var name = System.IO.Path.GetFileName(path);
            if (long.TryParse(name.AsSpan(Prefix.Length, name.Length - Prefix.Length - Suffix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var index))
            {
                yield return (index, path);
            }
        }
    }

    public static void Write(string directory, Snapshot snapshot, bool flushToDisk)
    {
        var header = EncodeHeader(snapshot.Metadata);
        // Header and data are written apart, so the data (which can be large) is never copied.
        var crc = Crc32C.CreateIncremental();
        crc.Append(header.AsSpan(12));
        crc.Append(snapshot.Data.Span);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(8), crc.GetCurrentHashAsUInt32());

        var final = PathFor(directory, snapshot.Index);
        var temporary = final + ".tmp";
        using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            stream.Write(header);
            stream.Write(snapshot.Data.Span);
            stream.Flush(flushToDisk);
        }
        Install(temporary, directory, snapshot.Index, flushToDisk);
    }

    /// <summary>Everything before the data, with the CRC field (bytes 8..12) left for the caller.</summary>
    public static byte[] EncodeHeader(SnapshotMetadata metadata)
    {
        var voters = metadata.Membership.Voters;
        var learners = metadata.Membership.Learners;
        var header = new byte[8 + 4 + 8 + 8 + 4 + 8 * voters.Count + 4 + 8 * learners.Count];
        var span = header.AsSpan();
        BinaryPrimitives.WriteUInt64LittleEndian(span, Magic);
        var p = 12;
        BinaryPrimitives.WriteInt64LittleEndian(span[p..], metadata.Index);
        p += 8;
        BinaryPrimitives.WriteInt64LittleEndian(span[p..], metadata.Term);
        p += 8;
        BinaryPrimitives.WriteInt32LittleEndian(span[p..], voters.Count);
        p += 4;
        foreach (var v in voters)
        {
            BinaryPrimitives.WriteInt64LittleEndian(span[p..], v);
            p += 8;
        }
        BinaryPrimitives.WriteInt32LittleEndian(span[p..], learners.Count);
        p += 4;
        foreach (var l in learners)
        {
            BinaryPrimitives.WriteInt64LittleEndian(span[p..], l);
            p += 8;
        }
        return header;
    }

    /// <summary>Renames a complete, flushed temporary file to the snapshot's name, atomically and durably.</summary>
    public static void Install(string temporary, string directory, long index, bool flushToDisk)
    {
        File.Move(temporary, PathFor(directory, index), overwrite: true);
        if (flushToDisk) DurableDirectory.Sync(directory);
    }

    public static Snapshot Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var span = bytes.AsSpan();
        if (bytes.Length < 12 + 8 + 8 + 4 + 4 || BinaryPrimitives.ReadUInt64LittleEndian(span) != Magic)
        {
            throw new WalCorruptionException(path, 0, "not a snapshot file");
        }
        if (Crc32C.Compute(span[12..]) != BinaryPrimitives.ReadUInt32LittleEndian(span[8..]))
        {
            throw new WalCorruptionException(path, 8, "snapshot checksum mismatch");
        }
        var p = 12;
        var index = BinaryPrimitives.ReadInt64LittleEndian(span[p..]);
        p += 8;
        var term = BinaryPrimitives.ReadInt64LittleEndian(span[p..]);
        p += 8;
        var voters = ReadIds(span, ref p, path);
        var learners = ReadIds(span, ref p, path);
        var membership = new ClusterMembership(voters, learners);
        return new Snapshot(new SnapshotMetadata(index, term, membership), bytes.AsMemory(p));
    }

    private static List<long> ReadIds(ReadOnlySpan<byte> span, ref int p, string path)
    {
        var count = BinaryPrimitives.ReadInt32LittleEndian(span[p..]);
        p += 4;
        if (count < 0 || count > (span.Length - p) / 8) throw new WalCorruptionException(path, p, "implausible member count");
        var ids = new List<long>(count);
        for (var i = 0; i < count; i++)
        {
            ids.Add(BinaryPrimitives.ReadInt64LittleEndian(span[p..]));
            p += 8;
        }
        return ids;
    }
}
