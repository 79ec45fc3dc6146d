using Google.Protobuf;

namespace RaftHead.Compare;

/// <summary>A three-member cluster of processes on loopback that this runner started and owns.</summary>
internal interface IClusterUnderTest : IAsyncDisposable
{
    /// <summary>Short name for tables ("ours", "etcd").</summary>
    string Name { get; }

    /// <summary>Its timing settings in words, for the report.</summary>
    string Settings { get; }

    /// <summary>Member numbers, 1..3.</summary>
    IReadOnlyList<int> Members { get; }

    /// <summary>PIDs of the member processes currently running (for CPU accounting).</summary>
    IReadOnlyList<int> ServerPids { get; }

    /// <summary>The member that is leader right now (asked of every live member), or null.</summary>
    Task<int?> FindLeaderAsync(CancellationToken cancellationToken);

    /// <summary>One put sent to <paramref name="member"/>; returns when it is committed and acknowledged, throws otherwise.</summary>
    Task PutAsync(int member, string key, ByteString value, TimeSpan timeout, CancellationToken cancellationToken);

    /// <summary>SIGKILL to the member's process; returns once the signal is sent.</summary>
    void Kill(int member);

    Task WaitExitedAsync(int member);

    /// <summary>Starts the member again on its data directory and returns once it follows a leader and has applied what the leader had committed.</summary>
    Task RestartAsync(int member, CancellationToken cancellationToken);
}
