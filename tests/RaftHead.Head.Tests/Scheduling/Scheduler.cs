using Google.Protobuf;
using RaftHead.Head.Scheduling;
using RaftHead.Protocol.V1;

namespace RaftHead.Head.Tests.Scheduling;

/// <summary>
/// A state machine fed through its byte interface, as the Raft driver feeds it, at consecutive log indexes; every
/// apply is followed by the full invariant check, and a rejected command is checked to have changed nothing.
/// </summary>
internal sealed class Scheduler
{
    public Scheduler(SchedulerLimits? limits = null)
    {
        Machine = new SchedulerStateMachine(limits);
    }

    public SchedulerStateMachine Machine { get; }

    public long LastIndex { get; private set; }

    public SchedulerState State => Machine.Current;

    public SchedulerResult Apply(SchedulerCommand command)
    {
        var before = Machine.Current;
        LastIndex++;
        var result = SchedulerResult.Parser.ParseFrom(Machine.Apply(LastIndex, command.ToByteArray()));
        var after = Machine.Current;
        var violation = SchedulerInvariants.Check(after, Machine.Limits);
        Assert.True(violation is null, $"after index {LastIndex} ({command.CommandCase}): {violation}");
        Assert.Equal(LastIndex, after.AppliedIndex);
        if (result.Code != SchedulerResultCode.Ok)
        {
            Assert.Equal(before.Version, after.Version);
            Assert.Same(before.Operations, after.Operations);
            Assert.Same(before.Workers, after.Workers);
            Assert.Same(before.Cache, after.Cache);
            Assert.Same(before.Graphs, after.Graphs);
        }

        return result;
    }

    /// <summary>A snapshot's bytes with the applied index cleared: equal when the states are, whatever the index.</summary>
    public static byte[] WithoutAppliedIndex(byte[] snapshot)
    {
        var parsed = SchedulerSnapshot.Parser.ParseFrom(snapshot);
        parsed.AppliedIndex = 0;
        return parsed.ToByteArray();
    }

    /// <summary>Applies a command that must succeed; returns its result.</summary>
    public SchedulerResult Ok(SchedulerCommand command)
    {
        var result = Apply(command);
        Assert.True(result.Code == SchedulerResultCode.Ok, $"{command.CommandCase} answered {result.Code}: {result.Message}");
        return result;
    }

    /// <summary>Submits and returns the operation's name.</summary>
    public string Submit(SchedulerCommand submit) => Ok(submit).Submit.OperationName;

    public GraphNodeStatus Node(string graphId, string nodeId) =>
        State.FindGraph(graphId)?.FindNode(nodeId) ?? throw new Xunit.Sdk.XunitException($"no node {nodeId} in graph {graphId}");

    public OperationState Operation(string name) => State.FindOperation(name) ?? throw new Xunit.Sdk.XunitException("no operation " + name);

    /// <summary>Applies a command that must be refused with <paramref name="code"/>; returns the message.</summary>
    public string Refused(SchedulerCommand command, SchedulerResultCode code)
    {
        var result = Apply(command);
        Assert.True(result.Code == code, $"{command.CommandCase} answered {result.Code} ({result.Message}), expected {code}");
        Assert.NotEmpty(result.Message);
        return result.Message;
    }
}
