namespace RaftHead.Rpc;

/// <summary>
/// One header or trailer. Keys are lower-case; keys ending in <c>-bin</c> carry bytes (base64 on the wire),
/// all others carry printable ASCII text.
/// </summary>
public sealed record MetadataEntry
{
    public MetadataEntry(string key, string value)
    {
        Key = Metadata.NormalizeKey(key);
        if (Metadata.IsBinaryKey(Key))
        {
            throw new ArgumentException($"Metadata key '{Key}' ends in -bin and takes a byte value.", nameof(key));
        }

        TextValue = value;
    }

    public MetadataEntry(string key, byte[] value)
    {
        Key = Metadata.NormalizeKey(key);
        if (!Metadata.IsBinaryKey(Key))
        {
            throw new ArgumentException($"Metadata key '{Key}' takes a text value; binary keys end in -bin.", nameof(key));
        }

        BinaryValue = value;
    }

    public string Key { get; }

    public string? TextValue { get; }

    public byte[]? BinaryValue { get; }

    public bool IsBinary => BinaryValue is not null;
}
