namespace RaftHead.Storage.Segments;

internal enum RecordKind : byte
{
    /// <summary>A CAS blob: the key is the SHA-256 of the data.</summary>
    Cas = 1,

    /// <summary>An action cache entry: the key is the action digest, the data a serialized ActionResult.</summary>
    ActionResult = 2,
}
