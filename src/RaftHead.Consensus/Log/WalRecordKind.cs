namespace RaftHead.Consensus.Log;

internal enum WalRecordKind : byte
{
    NormalEntry = 1,
    MembershipEntry = 2,

    /// <summary>Term = term, Index = commit, payload = vote (8 bytes).</summary>
    HardState = 3,

    /// <summary>Term/Index = the snapshot's; payload: 1 byte, 1 = the log was replaced, 0 = compacted.</summary>
    SnapshotMarker = 4,

    /// <summary>
    /// Index = an offset in this segment that an earlier Sync made durable; no payload. Written first in the batch
    /// after that Sync, so a valid one found past a bad record proves the bad record had been synced.
    /// </summary>
    SyncedThrough = 5,
}
