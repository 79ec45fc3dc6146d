using Google.Protobuf.WellKnownTypes;
using RaftHead.Rpc;

namespace RaftHead.Consensus.Transport;

/// <summary>
/// The peer service <c>rafthead.v1.Raft</c>. One method: a long-lived client stream per (sender, receiver) pair
/// over which the sender pipelines its Raft messages, each a <see cref="BytesValue"/> holding
/// <see cref="RaftMessageCodec"/>'s encoding. Answers travel on the receiver's own stream back, as in etcd's
/// rafthttp, so the call returns (<see cref="Empty"/>) only when the stream ends.
/// </summary>
public static class RaftMethods
{
    public const string ServiceName = "rafthead.v1.Raft";

    /// <summary>Request header naming the sending node, so a receiver can reject a stream from a stranger early.</summary>
    public const string FromHeader = "rafthead-raft-from";

    /// <summary>Request header naming the node the sender believes it is talking to (catches swapped addresses).</summary>
    public const string ToHeader = "rafthead-raft-to";

    public static readonly Method<BytesValue, Empty> Stream = new(
        ServiceName, "Stream", MethodType.ClientStreaming, BytesValue.Parser, Empty.Parser);
}
