namespace RaftHead.Storage.Segments;

/// <summary>A namespace id and the instance name it hashes, so stats keep their names across restarts.</summary>
internal sealed record CheckpointNamespace(long Id, RecordKind Kind, string? InstanceName);
