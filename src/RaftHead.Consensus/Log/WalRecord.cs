namespace RaftHead.Consensus.Log;

internal readonly record struct WalRecord(WalRecordKind Kind, long Term, long Index, ReadOnlyMemory<byte> Payload);
