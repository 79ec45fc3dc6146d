using System.Text;
using RaftHead.Consensus.Core;
using RaftHead.Consensus.Log;

namespace RaftHead.Consensus.Tests.Harness;

/// <summary>One node in a scenario: the core, its storage, and what its state machine has applied.</summary>
public sealed class Peer
{
    public Peer(long id, RaftNode node, MemoryRaftStorage storage)
    {
        Id = id;
        Node = node;
        Storage = storage;
    }

    public long Id { get; }

    public RaftNode Node { get; set; }

    public MemoryRaftStorage Storage { get; }

    public bool Crashed { get; set; }

    /// <summary>Payloads of applied normal entries, in order (the state machine of the scenario tests).</summary>
    public List<string> Applied { get; } = new();

    public List<ReadState> ReadStates { get; } = new();

    public List<string> AppliedText() => Applied.ToList();

    internal void Apply(LogEntry entry)
    {
        if (entry.Type == EntryType.Normal && !entry.Data.IsEmpty) Applied.Add(Encoding.UTF8.GetString(entry.Data.Span));
    }

    internal void Restore(Snapshot snapshot)
    {
        Applied.Clear();
        var text = Encoding.UTF8.GetString(snapshot.Data.Span);
        if (text.Length > 0) Applied.AddRange(text.Split('\n'));
    }

    /// <summary>The scenario state machine's snapshot: applied payloads joined by newlines.</summary>
    public byte[] SnapshotData() => Encoding.UTF8.GetBytes(string.Join('\n', Applied));
}
