using Google.Protobuf.WellKnownTypes;
using RaftHead.Rpc;

namespace RaftHead.Compare;

/// <summary>
/// The node host's control API as declared in tests/RaftHead.Consensus.Tests/Cluster/ControlService.cs (repeated here,
/// not referenced, so this runner does not pull the test project's xunit dependencies in), and its put command
/// encoding from KvStateMachine.Put: <c>i32 LE key length | key UTF-8 | value bytes</c>.
/// </summary>
internal static class OurControl
{
    public const string ServiceName = "rafthead.test.v1.Control";

    public static readonly Method<BytesValue, BytesValue> Put = new(ServiceName, "Put", MethodType.Unary, BytesValue.Parser, BytesValue.Parser);

    public static readonly Method<Empty, StringValue> Status = new(ServiceName, "Status", MethodType.Unary, Empty.Parser, StringValue.Parser, idempotent: true);

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
