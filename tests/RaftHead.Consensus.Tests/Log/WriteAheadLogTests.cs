using System.Text;
using RaftHead.Consensus.Core;
using RaftHead.Consensus.Log;
using RaftHead.Consensus.Membership;
using RaftHead.Durability;

using RaftHead.Testing;

namespace RaftHead.Consensus.Tests.Log;

public sealed class WriteAheadLogTests
{
    private static readonly WriteAheadLogOptions Fast = new() { FlushToDisk = false };

    private static LogEntry Entry(long index, long term, string data = "") =>
        new(term, index, EntryType.Normal, Encoding.UTF8.GetBytes(data.Length > 0 ? data : $"entry-{index}-{term}"));

    [Fact]
    public void Crc32C_matches_the_standard_check_value()
    {
        Assert.Equal(0xE3069283u, Crc32C.Compute("123456789"u8));
        Assert.Equal(0u, Crc32C.Compute(ReadOnlySpan<byte>.Empty));
        var data = Encoding.UTF8.GetBytes("The quick brown fox jumps over the lazy dog");
        var crc = Crc32C.CreateIncremental();
        crc.Append(data.AsSpan(0, 13));
        crc.Append(data.AsSpan(13));
        Assert.Equal(Crc32C.Compute(data), crc.GetCurrentHashAsUInt32());
    }

    [Fact]
    public void A_second_open_of_a_live_log_fails_naming_the_holder_and_changes_nothing()
    {
        using var dir = new TempDirectory();
        var options = Fast with { SegmentBytes = 256 };
        using (var wal = WriteAheadLog.Open(dir.Path, options))
        {
            wal.Append(Enumerable.Range(1, 20).Select(i => Entry(i, 1)).ToList());
            wal.Sync();
            // Unsynced bytes in the live log's last segment: a second open would have cut them as a torn tail.
            wal.Append([Entry(21, 1)]);
            wal.SetHardState(new HardState(1, 1, 20));
            var before = FilesIn(dir.Path);
            Assert.True(before.Count > 2, "the log should span several segments");

            var error = Assert.Throws<DataDirectoryInUseException>(() => WriteAheadLog.Open(dir.Path, options));
            Assert.Equal(
                $"data directory {dir.Path} is in use by process {Environment.ProcessId} (lock file {Path.Combine(dir.Path, "LOCK")})",
                error.Message);
            Assert.Throws<DataDirectoryInUseException>(() => WriteAheadLog.Open(dir.Path)); // the durable path too
            Assert.Equal(before, FilesIn(dir.Path));
            wal.Sync();
        }

        using var reopened = WriteAheadLog.Open(dir.Path, options);
        Assert.Equal(21, reopened.LastIndex);
        Assert.Equal(new HardState(1, 1, 20), reopened.HardState);
    }

    [Fact]
    public void Open_creates_missing_parent_directories()
    {
        using var dir = new TempDirectory();
        var nested = Path.Combine(dir.Path, "a", "b", "wal");
        using var wal = WriteAheadLog.Open(nested);
        Assert.True(File.Exists(Path.Combine(nested, "wal-0000000000000001.log")));
    }

    [Fact]
    public void Entries_hard_state_and_membership_survive_a_reopen()
    {
        using var dir = new TempDirectory();
        var membership = new ClusterMembership([1, 2, 3]);
        using (var wal = WriteAheadLog.Bootstrap(dir.Path, membership))
        {
            wal.Append([Entry(4, 2), Entry(5, 2)]);
            wal.SetHardState(new HardState(2, 1, 5));
            wal.Sync();
        }
        using var reopened = WriteAheadLog.Open(dir.Path);
        Assert.Equal(5, reopened.LastIndex);
        Assert.Equal(new HardState(2, 1, 5), reopened.HardState);
        Assert.Equal("entry-5-2", Encoding.UTF8.GetString(reopened.Entries(5, 6, long.MaxValue)[0].Data.Span));
        Assert.Equal(EntryType.MembershipChange, reopened.Entries(1, 2, long.MaxValue)[0].Type);
    }

    [Fact]
    public void Group_commit_flushes_once_per_batch()
    {
        using var dir = new TempDirectory();
        using var wal = WriteAheadLog.Open(dir.Path);
        var before = wal.FlushCount;
        wal.Append(Enumerable.Range(1, 100).Select(i => Entry(i, 1)).ToList());
        wal.SetHardState(new HardState(1, 1, 50));
        wal.Sync();
        Assert.Equal(before + 1, wal.FlushCount);
    }

    [Fact]
    public void A_conflicting_suffix_replaced_by_a_later_append_stays_replaced_after_reopen()
    {
        using var dir = new TempDirectory();
        using (var wal = WriteAheadLog.Open(dir.Path, Fast))
        {
            wal.Append(Enumerable.Range(1, 10).Select(i => Entry(i, 1)).ToList());
            wal.Append([Entry(6, 3), Entry(7, 3)]);
            wal.Sync();
            Assert.Equal(7, wal.LastIndex);
        }
        using var reopened = WriteAheadLog.Open(dir.Path, Fast);
        Assert.Equal(7, reopened.LastIndex);
        Assert.True(reopened.TryGetTerm(6, out var term) && term == 3);
        Assert.True(reopened.TryGetTerm(5, out term) && term == 1);
    }

    [Fact]
    public void Compaction_deletes_covered_segments_and_recovery_starts_from_the_snapshot()
    {
        using var dir = new TempDirectory();
        var options = Fast with { SegmentBytes = 1024 };
        var snapshot = new Snapshot(new SnapshotMetadata(150, 1, new ClusterMembership([1, 2, 3])), Encoding.UTF8.GetBytes("state@150"));
        using (var wal = WriteAheadLog.Open(dir.Path, options))
        {
            wal.Append(Enumerable.Range(1, 200).Select(i => Entry(i, 1)).ToList());
            wal.SetHardState(new HardState(1, 0, 200));
            wal.Sync();
            var before = wal.SegmentCount;
            Assert.True(before > 5);
            wal.Compact(snapshot);
            Assert.True(wal.SegmentCount < before);
            Assert.Equal(151, wal.FirstIndex);
        }
        using var reopened = WriteAheadLog.Open(dir.Path, options);
        Assert.Equal(151, reopened.FirstIndex);
        Assert.Equal(200, reopened.LastIndex);
        Assert.Equal("state@150", Encoding.UTF8.GetString(reopened.Snapshot.Data.Span));
        Assert.Equal(new long[] { 1, 2, 3 }, reopened.Snapshot.Metadata.Membership.Voters);
        Assert.Single(Directory.GetFiles(dir.Path, "snap-*"));
    }

    [Fact]
    public void A_crash_while_a_snapshot_is_written_off_the_loop_leaves_the_previous_snapshot_in_force()
    {
        using var dir = new TempDirectory();
        var options = Fast with { SegmentBytes = 1024 };
        var live = dir.Combine("live");
        var midWrite = dir.Combine("mid-write");
        var afterWrite = dir.Combine("after-write");
        var next = new Snapshot(new SnapshotMetadata(150, 1, new ClusterMembership([1, 2, 3])), Encoding.UTF8.GetBytes("state@150"));
        using (var wal = WriteAheadLog.Open(live, options))
        {
            wal.Append(Enumerable.Range(1, 200).Select(i => Entry(i, 1)).ToList());
            wal.SetHardState(new HardState(1, 0, 200));
            wal.Sync();
            wal.Compact(new Snapshot(new SnapshotMetadata(100, 1, new ClusterMembership([1, 2, 3])), Encoding.UTF8.GetBytes("state@100")));
            CopyDirectory(live, midWrite);

            wal.PrepareSnapshot(next);
            // Prepared, not yet recorded: the log is unchanged, and a crash now leaves a complete but unnamed file.
            Assert.Equal(101, wal.FirstIndex);
            CopyDirectory(live, afterWrite);
            var file = Path.GetFileName(SnapshotPath(live, 150));
            var bytes = File.ReadAllBytes(Path.Combine(live, file));
            // A crash in the middle of the write: part of the temporary file reached the disk.
            File.WriteAllBytes(Path.Combine(midWrite, file + ".tmp"), bytes.AsSpan(0, bytes.Length / 2).ToArray());
        }

        foreach (var crashed in new[] { midWrite, afterWrite })
        {
            using var recovered = WriteAheadLog.Open(crashed, options);
            Assert.Equal(101, recovered.FirstIndex);
            Assert.Equal(200, recovered.LastIndex);
            Assert.Equal("state@100", Encoding.UTF8.GetString(recovered.Snapshot.Data.Span));
            Assert.Equal([SnapshotPath(crashed, 100)], Directory.GetFiles(crashed, "snap-*"));

            // The node goes on: the next snapshot is prepared and recorded over the orphan's place.
            recovered.PrepareSnapshot(next);
            recovered.Compact(next);
        }
        foreach (var crashed in new[] { midWrite, afterWrite })
        {
            using var reopened = WriteAheadLog.Open(crashed, options);
            Assert.Equal(151, reopened.FirstIndex);
            Assert.Equal("state@150", Encoding.UTF8.GetString(reopened.Snapshot.Data.Span));
            Assert.Single(Directory.GetFiles(crashed, "snap-*"));
        }
    }

    [Fact]
    public void A_prepared_snapshot_is_recorded_by_compaction_without_writing_it_again()
    {
        using var dir = new TempDirectory();
        var snapshot = new Snapshot(new SnapshotMetadata(15, 1, new ClusterMembership([1])), Encoding.UTF8.GetBytes("state@15"));
        using (var wal = WriteAheadLog.Open(dir.Path, Fast))
        {
            wal.Append(Enumerable.Range(1, 20).Select(i => Entry(i, 1)).ToList());
            wal.Sync();
            wal.PrepareSnapshot(snapshot);
            var path = SnapshotPath(dir.Path, 15);
            var written = File.GetLastWriteTimeUtc(path);
            File.SetLastWriteTimeUtc(path, written.AddHours(-1));
            wal.Compact(snapshot);
            Assert.Equal(written.AddHours(-1), File.GetLastWriteTimeUtc(path));
            Assert.Equal(16, wal.FirstIndex);

            // A snapshot that was not prepared is written by compaction itself.
            var later = new Snapshot(new SnapshotMetadata(18, 1, new ClusterMembership([1])), Encoding.UTF8.GetBytes("state@18"));
            wal.Compact(later);
            Assert.Single(Directory.GetFiles(dir.Path, "snap-*18.snap"));
        }
        using var reopened = WriteAheadLog.Open(dir.Path, Fast);
        Assert.Equal(19, reopened.FirstIndex);
        Assert.Equal("state@18", Encoding.UTF8.GetString(reopened.Snapshot.Data.Span));
    }

    [Fact]
    public void A_snapshot_from_the_leader_is_streamed_to_a_file_as_it_arrives_and_installed_from_it()
    {
        using var dir = new TempDirectory();
        const int chunkBytes = 1024 * 1024, chunks = 64;
        var data = new byte[chunkBytes * chunks];
        new Random(5).NextBytes(data);
        var metadata = new SnapshotMetadata(100, 2, new ClusterMembership([1, 2, 3]));
        var messages = Enumerable.Range(0, chunks).Select(i => SnapshotChunk(metadata, data, i * chunkBytes, chunkBytes)).ToList();
        var crashed = dir.Combine("crashed");
        var live = dir.Combine("live");
        using (var wal = WriteAheadLog.Bootstrap(live, new ClusterMembership([1, 2, 3]), Fast))
        {
            var follower = new RaftNode(new RaftConfig { NodeId = 3 }, wal, new Random(1));
            var temporary = Path.Combine(live, "incoming-snapshot.tmp");
            long allocated = 0;
            for (var i = 0; i < chunks - 1; i++)
            {
                var before = GC.GetAllocatedBytesForCurrentThread();
                follower.Step(messages[i]);
                allocated += GC.GetAllocatedBytesForCurrentThread() - before;
                Drive(follower, wal);
                Assert.Equal((i + 1L) * chunkBytes, new FileInfo(temporary).Length - SnapshotHeaderBytes(metadata));
            }
            // Held in memory, 63 MiB received would have taken at least that much (and doubling buffers more).
            Assert.True(allocated < chunkBytes, $"receiving {chunks - 1} MiB allocated {allocated} bytes");
            // A crash in mid-transfer: the partial file is all there is of the snapshot.
            CopyDirectory(live, crashed);

            follower.Step(messages[^1]);
            Assert.False(File.Exists(temporary));
            var path = SnapshotPath(live, 100);
            var renamedAt = new DateTime(2001, 1, 1, 0, 0, 0, DateTimeKind.Utc);
            File.SetLastWriteTimeUtc(path, renamedAt);
            var ready = follower.GetReady();
            Assert.NotNull(ready.Snapshot);
            Assert.True(ready.Snapshot.Data.Span.SequenceEqual(data));
            wal.ApplySnapshot(ready.Snapshot);
            if (ready.HardState is { } hs) wal.SetHardState(hs);
            wal.Sync();
            follower.Advance(ready);
            // Installed from the streamed file, not written again.
            Assert.Equal(renamedAt, File.GetLastWriteTimeUtc(path));
            Assert.Equal(101, wal.FirstIndex);
        }

        using (var reopened = WriteAheadLog.Open(live, Fast))
        {
            Assert.Equal(101, reopened.FirstIndex);
            Assert.True(reopened.Snapshot.Data.Span.SequenceEqual(data));
            Assert.Equal(metadata, reopened.Snapshot.Metadata);
        }
        using (var recovered = WriteAheadLog.Open(crashed, Fast))
        {
            Assert.Equal(0, recovered.Snapshot.Index);
            Assert.Equal(3, recovered.LastIndex);
            Assert.Empty(Directory.GetFiles(crashed, "*.tmp"));
            Assert.Empty(Directory.GetFiles(crashed, "snap-*"));
        }
    }

    [Fact]
    public void A_newer_transfer_replaces_an_unfinished_one_in_the_same_file()
    {
        using var dir = new TempDirectory();
        var first = new SnapshotMetadata(100, 2, new ClusterMembership([1, 2, 3]));
        var second = new SnapshotMetadata(120, 3, new ClusterMembership([1, 2, 3]));
        using var wal = WriteAheadLog.Bootstrap(dir.Path, new ClusterMembership([1, 2, 3]), Fast);
        var follower = new RaftNode(new RaftConfig { NodeId = 3 }, wal, new Random(1));
        follower.Step(SnapshotChunk(first, new byte[64], 0, 32));
        Drive(follower, wal);
        // Another leader, a later term: its snapshot starts over in the same temporary file.
        follower.Step(SnapshotChunk(second, Encoding.UTF8.GetBytes("state@120"), 0, 9));
        var ready = follower.GetReady();
        Assert.Equal("state@120", Encoding.UTF8.GetString(ready.Snapshot!.Data.Span));
        wal.ApplySnapshot(ready.Snapshot);
        if (ready.HardState is { } hs) wal.SetHardState(hs);
        wal.Sync();
        follower.Advance(ready);
        Assert.Equal([SnapshotPath(dir.Path, 120)], Directory.GetFiles(dir.Path, "snap-*"));
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp"));
    }

    [Fact]
    public void A_snapshot_from_the_leader_replaces_the_log_across_a_reopen()
    {
        using var dir = new TempDirectory();
        var snapshot = new Snapshot(new SnapshotMetadata(15, 4, new ClusterMembership([1, 2, 3])), new byte[] { 7, 7, 7 });
        using (var wal = WriteAheadLog.Open(dir.Path, Fast))
        {
            wal.Append(Enumerable.Range(1, 20).Select(i => Entry(i, 1)).ToList());
            wal.ApplySnapshot(snapshot);
            wal.Append([Entry(16, 4)]);
            wal.SetHardState(new HardState(4, 2, 15));
            wal.Sync();
        }
        using var reopened = WriteAheadLog.Open(dir.Path, Fast);
        Assert.Equal(16, reopened.FirstIndex);
        Assert.Equal(16, reopened.LastIndex);
        Assert.True(reopened.TryGetTerm(15, out var term) && term == 4);
        Assert.Equal(new byte[] { 7, 7, 7 }, reopened.Snapshot.Data.ToArray());
    }

    [Fact]
    public void A_snapshot_whose_marker_never_reached_the_log_is_ignored()
    {
        using var dir = new TempDirectory();
        var crashed = dir.Combine("crashed");
        using (var wal = WriteAheadLog.Open(dir.Combine("live"), Fast))
        {
            wal.Append(Enumerable.Range(1, 20).Select(i => Entry(i, 1)).ToList());
            wal.Sync();
            wal.ApplySnapshot(new Snapshot(new SnapshotMetadata(30, 2, new ClusterMembership([1])), new byte[] { 1 }));
            // "Crash" before Sync: copy what is on disk now (the marker is still in the process's buffer).
            CopyDirectory(wal.Directory, crashed);
        }
        using var recovered = WriteAheadLog.Open(crashed, Fast);
        Assert.Equal(1, recovered.FirstIndex);
        Assert.Equal(20, recovered.LastIndex);
        Assert.Empty(Directory.GetFiles(crashed, "snap-*"));
    }

    [Fact]
    public void Cutting_the_file_at_every_byte_offset_recovers_exactly_the_complete_records()
    {
        using var dir = new TempDirectory();
        var (bytes, states) = WriteHistory(dir.Combine("source"));
        for (var cut = 0; cut <= bytes.Length; cut++)
        {
            var expected = states.Last(s => s.EndOffset <= cut);
            var target = dir.Combine($"cut-{cut}");
            WriteSegment(target, bytes.AsSpan(0, cut));
            using var wal = WriteAheadLog.Open(target, Fast);
            expected.AssertMatches(wal, $"cut at {cut}");
            wal.Dispose();
            Directory.Delete(target, recursive: true);
        }
    }

    [Fact]
    public void Flipping_a_bit_anywhere_either_drops_only_the_damaged_last_record_or_refuses_to_start()
    {
        using var dir = new TempDirectory();
        var (bytes, states) = WriteHistory(dir.Combine("source"));
        var lastRecordStart = states[^2].EndOffset;
        var refused = 0;
        for (var offset = 0; offset < bytes.Length; offset++)
        {
            var damaged = bytes.ToArray();
            damaged[offset] ^= (byte)(1 << (offset % 8));
            var target = dir.Combine($"flip-{offset}");
            WriteSegment(target, damaged);
            try
            {
                using var wal = WriteAheadLog.Open(target, Fast);
                Assert.True(offset >= lastRecordStart, $"a flip at {offset}, before the last record, must refuse to start");
                states[^2].AssertMatches(wal, $"flip at {offset}");
            }
            catch (WalCorruptionException e)
            {
                Assert.True(offset < lastRecordStart, $"a flip at {offset} in the last record is indistinguishable from a torn write and must recover");
                Assert.Contains(target, e.Message, StringComparison.Ordinal);
                Assert.Contains("offset", e.Message, StringComparison.Ordinal);
                refused++;
            }
            Directory.Delete(target, recursive: true);
        }
        Assert.True(refused > 0);
    }

    [Fact]
    public void Damage_in_a_closed_segment_refuses_to_start_and_names_the_file()
    {
        using var dir = new TempDirectory();
        var options = Fast with { SegmentBytes = 512 };
        using (var wal = WriteAheadLog.Open(dir.Path, options))
        {
            wal.Append(Enumerable.Range(1, 60).Select(i => Entry(i, 1)).ToList());
            wal.Sync();
        }
        var first = Directory.GetFiles(dir.Path, "wal-*.log").Order(StringComparer.Ordinal).First();
        var bytes = File.ReadAllBytes(first);
        bytes[^3] ^= 0x10;
        File.WriteAllBytes(first, bytes);
        var error = Assert.Throws<WalCorruptionException>(() => WriteAheadLog.Open(dir.Path, options));
        Assert.Equal(first, error.Path);
    }

    [Fact]
    public void A_holed_unsynced_tail_is_cut_at_the_hole_and_a_node_reopened_on_it_has_exactly_the_prefix()
    {
        using var dir = new TempDirectory();
        var segment = Path.Combine(dir.Path, "wal-0000000000000001.log");
        long syncedBytes;
        using (var wal = WriteAheadLog.Bootstrap(dir.Path, new ClusterMembership([1]), Fast))
        {
            wal.Append(Enumerable.Range(2, 4).Select(i => Entry(i, 1)).ToList());
            wal.SetHardState(new HardState(1, 1, 5));
            wal.Sync();
            syncedBytes = new FileInfo(segment).Length;
            // Never synced: the OS may write these pages in any order before the crash.
            wal.Append(Enumerable.Range(6, 7).Select(i => Entry(i, 1)).ToList());
        }
        var (holeStart, holeEnd) = (UnsyncedEntryOffset(syncedBytes, 6, 8), UnsyncedEntryOffset(syncedBytes, 6, 10));
        ZeroBytes(segment, holeStart, holeEnd);

        using (var recovered = WriteAheadLog.Open(dir.Path, Fast))
        {
            Assert.Equal(7, recovered.LastIndex);
            Assert.Equal(new HardState(1, 1, 5), recovered.HardState);
            Assert.Equal(holeStart, new FileInfo(segment).Length);
            var node = new RaftNode(new RaftConfig { NodeId = 1 }, recovered, new Random(1));
            Assert.Equal(7, node.Log.LastIndex);
            Assert.Equal(5, node.Log.Committed);
            Assert.Equal(
                Enumerable.Repeat(1L, 7),
                Enumerable.Range(1, 7).Select(i => recovered.TryGetTerm(i, out var t) ? t : -1));
            Assert.Equal("entry-7-1", Encoding.UTF8.GetString(recovered.Entries(7, 8, long.MaxValue)[0].Data.Span));
            recovered.Append([Entry(8, 2)]);
            recovered.Sync();
        }
        // The valid-looking records past the hole are gone for good, not revived behind new appends.
        using var reopened = WriteAheadLog.Open(dir.Path, Fast);
        Assert.Equal(8, reopened.LastIndex);
        Assert.True(reopened.TryGetTerm(8, out var term8) && term8 == 2);
    }

    [Fact]
    public void A_hole_in_synced_data_refuses_to_start_naming_the_segment_and_offset()
    {
        using var dir = new TempDirectory();
        var segment = Path.Combine(dir.Path, "wal-0000000000000001.log");
        long syncedBytes;
        using (var wal = WriteAheadLog.Bootstrap(dir.Path, new ClusterMembership([1]), Fast))
        {
            wal.Append(Enumerable.Range(2, 4).Select(i => Entry(i, 1)).ToList());
            wal.SetHardState(new HardState(1, 1, 5));
            wal.Sync();
            syncedBytes = new FileInfo(segment).Length;
            wal.Append(Enumerable.Range(6, 7).Select(i => Entry(i, 1)).ToList());
            wal.SetHardState(new HardState(1, 1, 12));
            wal.Sync();
            // The batch after a sync starts by recording it: the evidence that entries 6..12 were durable.
            wal.Append([Entry(13, 1)]);
            wal.Sync();
        }
        var holeStart = UnsyncedEntryOffset(syncedBytes, 6, 8);
        ZeroBytes(segment, holeStart, UnsyncedEntryOffset(syncedBytes, 6, 10));

        var error = Assert.Throws<WalCorruptionException>(() => WriteAheadLog.Open(dir.Path, Fast));
        Assert.Equal(segment, error.Path);
        Assert.Equal(holeStart, error.Offset);
        Assert.Contains($"{segment} offset {holeStart}", error.Message, StringComparison.Ordinal);
        Assert.Contains("synced", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_raft_node_restarted_on_its_write_ahead_log_resumes_its_term_vote_and_log()
    {
        using var dir = new TempDirectory();
        long term, commit;
        using (var wal = WriteAheadLog.Bootstrap(dir.Path, new ClusterMembership([1])))
        {
            var node = new RaftNode(new RaftConfig { NodeId = 1 }, wal, new Random(1));
            for (var i = 0; i < 30 && node.Role != RaftRole.Leader; i++)
            {
                node.Tick();
                Drive(node, wal);
            }
            Assert.Equal(RaftRole.Leader, node.Role);
            for (var i = 0; i < 5; i++)
            {
                node.Propose(Encoding.UTF8.GetBytes($"v{i}"));
                Drive(node, wal);
            }
            term = node.Term;
            commit = node.Log.Committed;
        }
        using var reopened = WriteAheadLog.Open(dir.Path);
        var restarted = new RaftNode(new RaftConfig { NodeId = 1 }, reopened, new Random(2));
        Assert.Equal(term, restarted.Term);
        Assert.Equal(1, restarted.Vote);
        Assert.Equal(commit, restarted.Log.Committed);
        var applied = restarted.GetReady().CommittedEntries.Where(e => e.Type == EntryType.Normal && !e.Data.IsEmpty).ToList();
        Assert.Equal(5, applied.Count);
    }

    private static void Drive(RaftNode node, WriteAheadLog wal)
    {
        while (node.HasReady)
        {
            var ready = node.GetReady();
            if (ready.Snapshot is not null) wal.ApplySnapshot(ready.Snapshot);
            wal.Append(ready.Entries);
            if (ready.HardState is { } hs) wal.SetHardState(hs);
            if (ready.MustSync) wal.Sync();
            node.Advance(ready);
            if (ready.PersistedThrough is { } persisted) node.ReportPersisted(persisted.Index, persisted.Term);
        }
    }

    /// <summary>Writes a varied history, syncing after every record, and notes the state after each.</summary>
    private static (byte[] Bytes, List<ExpectedState> States) WriteHistory(string directory)
    {
        var states = new List<ExpectedState> { new(0, 0, default, []) };
        using (var wal = WriteAheadLog.Open(directory, Fast))
        {
            var segment = Directory.GetFiles(directory, "wal-*.log").Single();
            void Note() => states.Add(ExpectedState.Of(wal, new FileInfo(segment).Length));
            Note();
            for (var i = 1; i <= 12; i++)
            {
                wal.Append([Entry(i, 1 + i / 5, new string('x', i * 3))]);
                wal.Sync();
                Note();
                wal.SetHardState(new HardState(1 + i / 5, 1, Math.Max(0, i - 2)));
                wal.Sync();
                Note();
            }
            wal.Append([Entry(11, 9)]); // replaces a conflicting suffix (11 and 12)
            wal.Sync();
            Note();
        }
        var bytes = File.ReadAllBytes(Directory.GetFiles(directory, "wal-*.log").Single());
        return (bytes, states);
    }

    /// <summary>u32 length, u32 CRC-32C, u8 kind, i64 term, i64 index (see the README's record format).</summary>
    private const int RecordOverheadBytes = 25;

    /// <summary>
    /// Where entry <paramref name="index"/> starts in the batch written after a sync that ended at
    /// <paramref name="syncedBytes"/>: the batch opens with a payload-less synced-through record, then entries
    /// from <paramref name="firstIndex"/> on, as <see cref="Entry"/> makes them at term 1.
    /// </summary>
    private static long UnsyncedEntryOffset(long syncedBytes, long firstIndex, long index)
    {
        var offset = syncedBytes + RecordOverheadBytes;
        for (var i = firstIndex; i < index; i++) offset += RecordOverheadBytes + Entry(i, 1).Data.Length;
        return offset;
    }

    private static void ZeroBytes(string path, long from, long toExclusive)
    {
        var bytes = File.ReadAllBytes(path);
        Assert.True(toExclusive < bytes.Length, "the hole must have records after it");
        Array.Clear(bytes, (int)from, (int)(toExclusive - from));
        File.WriteAllBytes(path, bytes);
    }

    /// <summary>Every file with its length and modification time: shows nothing was created, deleted, written or cut.</summary>
    private static Dictionary<string, string> FilesIn(string directory) =>
        Directory.GetFiles(directory).ToDictionary(f => Path.GetFileName(f), f => $"{new FileInfo(f).Length}@{File.GetLastWriteTimeUtc(f).Ticks}");

    private static void WriteSegment(string directory, ReadOnlySpan<byte> bytes)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllBytes(Path.Combine(directory, "wal-0000000000000001.log"), bytes.ToArray());
    }

    /// <summary>What a crash leaves: the log's files, but no live lock (the live log holds LOCK, which .NET cannot open).</summary>
    private static Message SnapshotChunk(SnapshotMetadata metadata, byte[] data, int offset, int length) => new()
    {
        Type = MessageType.SnapshotChunk,
        From = 1,
        To = 3,
        Term = metadata.Term,
        SnapshotMetadata = metadata,
        ChunkOffset = offset,
        ChunkData = data.AsMemory(offset, length),
        SnapshotTotalBytes = data.Length,
    };

    /// <summary>Magic, CRC, index, term, the two member counts and the members (the snapshot file format).</summary>
    private static long SnapshotHeaderBytes(SnapshotMetadata metadata) =>
        8 + 4 + 8 + 8 + 4 + (8 * metadata.Membership.Voters.Count) + 4 + (8 * metadata.Membership.Learners.Count);

    /// <summary>The one snapshot file for <paramref name="index"/> (names are zero-padded).</summary>
    private static string SnapshotPath(string directory, long index) =>
        Directory.GetFiles(directory, $"snap-*{index}.snap").Single(f => long.Parse(Path.GetFileName(f)[5..^5], System.Globalization.CultureInfo.InvariantCulture) == index);

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from).Where(f => Path.GetFileName(f) != DataDirectoryLock.FileName))
        {
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        }
    }

    private sealed record ExpectedState(long EndOffset, long LastIndex, HardState HardState, long[] Terms)
    {
        public static ExpectedState Of(WriteAheadLog wal, long endOffset) =>
            new(endOffset, wal.LastIndex, wal.HardState, Enumerable.Range(1, (int)wal.LastIndex).Select(i => wal.TryGetTerm(i, out var t) ? t : -1).ToArray());

        public void AssertMatches(WriteAheadLog wal, string what)
        {
            Assert.True(LastIndex == wal.LastIndex, $"{what}: last index {wal.LastIndex}, expected {LastIndex}");
            Assert.True(HardState == wal.HardState, $"{what}: hard state {wal.HardState}, expected {HardState}");
            for (var i = 1; i <= LastIndex; i++)
            {
                Assert.True(wal.TryGetTerm(i, out var t) && t == Terms[i - 1], $"{what}: term at {i}");
            }
        }
    }
}
