namespace RaftHead.Consensus.Core;

/// <summary>
/// A confirmed linearizable read: once the local applied index reaches <paramref name="Index"/>, the state
/// machine may answer the read identified by <paramref name="Context"/>.
/// </summary>
public sealed record ReadState(long Index, ReadOnlyMemory<byte> Context);
