namespace RaftHead.Consensus.Transport;

/// <summary>
/// Request headers of <c>rafthead.v1.Raft/Stream</c> (the service itself is generated from
/// <c>proto/rafthead/v1/raft.proto</c>). Each call is one long-lived client stream per (sender, receiver) pair
/// over which the sender pipelines its Raft messages, each a <c>BytesValue</c> holding
/// <see cref="RaftMessageCodec"/>'s encoding; answers travel on the receiver's own stream back, as in etcd's rafthttp.
/// </summary>
public static class RaftHeaders
{
    /// <summary>Names the sending node, so a receiver can reject a stream from a stranger early.</summary>
    public const string From = "rafthead-raft-from";

    /// <summary>Names the node the sender believes it is talking to (catches swapped addresses).</summary>
    public const string To = "rafthead-raft-to";
}
