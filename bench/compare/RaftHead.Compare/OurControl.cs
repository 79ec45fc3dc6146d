namespace RaftHead.Compare;

/// <summary>
/// The node host's put command encoding, as KvStateMachine.Put in tests/RaftHead.Consensus.Tests/Cluster (repeated
/// here, not referenced, so this runner does not pull the test project's xunit dependencies in):
/// <c>i32 LE key length | key UTF-8 | value bytes</c>. The control API itself is compiled from the test project's
/// <c>Protos/control.proto</c>.
/// </summary>
internal static class OurControl
{
    public static byte[] PutCommand(string key, ReadOnlySpan<byte> value)
    {
        var keyBytes = System.Text.Encoding.UTF8.GetBytes(key);
        var command = new byte[4 + keyBytes.Length + value.Length];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(command, keyBytes.Length);
        keyBytes.CopyTo(command, 4);
        value.CopyTo(command.AsSpan(4 + keyBytes.Length));
        return command;
    }
}
