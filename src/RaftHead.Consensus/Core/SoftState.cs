namespace RaftHead.Consensus.Core;

/// <summary>Volatile state worth reporting to the driver (who leads, in which role we are); never persisted.</summary>
public readonly record struct SoftState(long Leader, RaftRole Role);
