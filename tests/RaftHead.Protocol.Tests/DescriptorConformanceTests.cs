using Google.Protobuf.Reflection;
using Xunit.Abstractions;

namespace RaftHead.Protocol.Tests;

/// <summary>
/// Our hand-written .proto files against the upstream ones: same wire format, element by element,
/// with every difference either explained in <see cref="DebianSnapshotDifferences"/> or failing.
/// </summary>
[Collection(UpstreamProtosCollection.Name)]
public sealed class DescriptorConformanceTests(UpstreamProtosFixture upstream, ITestOutputHelper output)
{
    [Fact]
    public void OurProtosMatchUpstreamFieldByField()
    {
        if (!upstream.IsAvailable(output))
        {
            return;
        }

        IReadOnlyList<string> problems = DescriptorComparer.Compare(
            OurProtos.GeneratedProtos(), upstream.Set!.File, DebianSnapshotDifferences.Create());

        Assert.True(problems.Count == 0, $"{problems.Count} difference(s) from upstream:\n" + string.Join("\n", problems));
    }

    [Fact]
    public void UpstreamCopiesAreTheOnesWeCompareAgainst()
    {
        if (!upstream.IsAvailable(output))
        {
            return;
        }

        var names = upstream.Set!.File.Select(f => f.Name).ToHashSet(StringComparer.Ordinal);
        foreach (FileDescriptorProto ours in OurProtos.GeneratedProtos())
        {
            Assert.Contains(ours.Name, names);
        }

        // Sanity: the comparison is not vacuous.
        FileDescriptorProto reapi = upstream.Set.File.Single(f => f.Package == "build.bazel.remote.execution.v2");
        Assert.True(reapi.MessageType.Count > 40, $"upstream REAPI has only {reapi.MessageType.Count} messages");
    }

    [Fact]
    public void ComparerAcceptsIdenticalDescriptors()
    {
        IReadOnlyList<string> problems = DescriptorComparer.Compare(
            OurProtos.GeneratedProtos(), OurProtos.GeneratedProtos(), KnownDifferences.None);

        Assert.Empty(problems);
    }

    public static TheoryData<string, string> Typos => new()
    {
        { "field renamed", "build.bazel.remote.execution.v2.Digest.hash" },
        { "field renumbered", "build.bazel.remote.execution.v2.Digest.hash" },
        { "field type changed", "build.bazel.remote.execution.v2.Digest.size_bytes" },
        { "field made repeated", "build.bazel.remote.execution.v2.Action.command_digest" },
        { "field message type changed", "build.bazel.remote.execution.v2.Action.input_root_digest" },
        { "nested field renamed", "build.bazel.remote.execution.v2.BatchReadBlobsResponse.Response.data" },
        { "enum value renamed", "build.bazel.remote.execution.v2.ExecutionStage.Value" },
        { "enum value renumbered", "build.bazel.remote.execution.v2.ExecutionStage.Value" },
        { "message renamed", "build.bazel.remote.execution.v2.Tree" },
        { "method streaming changed", "build.bazel.remote.execution.v2.Execution.Execute" },
        { "field left oneof", "google.longrunning.Operation.error" },
        { "field dropped", "google.bytestream.WriteRequest.finish_write" },
    };

    [Theory]
    [MemberData(nameof(Typos))]
    public void ComparerReportsEachKindOfTypo(string typo, string element)
    {
        List<FileDescriptorProto> mutated = OurProtos.GeneratedProtos();
        Mutate(mutated, typo);

        IReadOnlyList<string> problems = DescriptorComparer.Compare(
            mutated, OurProtos.GeneratedProtos(), KnownDifferences.None);

        Assert.NotEmpty(problems);
        output.WriteLine($"{typo} ({element}):\n  " + string.Join("\n  ", problems));
    }

    [Fact]
    public void ComparerReportsAllowListEntriesThatMatchNothing()
    {
        var known = new KnownDifferences
        {
            NewFields = { ["build.bazel.remote.execution.v2.Command.output_pahts"] = "typo" },
        };

        IReadOnlyList<string> problems = DescriptorComparer.Compare(
            OurProtos.GeneratedProtos(), OurProtos.GeneratedProtos(), known);

        string problem = Assert.Single(problems);
        Assert.Contains("output_pahts", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void ComparerReportsAllowListedFieldsThatUpstreamAlreadyHas()
    {
        var known = new KnownDifferences
        {
            NewFields = { ["build.bazel.remote.execution.v2.Command.output_paths"] = "v2.1" },
        };

        IReadOnlyList<string> problems = DescriptorComparer.Compare(
            OurProtos.GeneratedProtos(), OurProtos.GeneratedProtos(), known);

        string problem = Assert.Single(problems);
        Assert.Contains("remove the entry", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void EveryAllowListEntryCarriesAVersionOrReason()
    {
        foreach ((string list, string key, string note) in DebianSnapshotDifferences.Create().AllEntries())
        {
            Assert.False(string.IsNullOrWhiteSpace(note), $"{list}[{key}] has no version or reason");
            output.WriteLine($"{list}: {key} -- {note}");
        }
    }

    private static void Mutate(List<FileDescriptorProto> files, string typo)
    {
        FileDescriptorProto reapi = files.Single(f => f.Package == "build.bazel.remote.execution.v2");
        DescriptorProto Message(FileDescriptorProto file, string name) => file.MessageType.Single(m => m.Name == name);
        FieldDescriptorProto Field(DescriptorProto message, string name) => message.Field.Single(f => f.Name == name);

        switch (typo)
        {
            case "field renamed":
                Field(Message(reapi, "Digest"), "hash").Name = "hsah";
                break;
            case "field renumbered":
                Field(Message(reapi, "Digest"), "hash").Number = 3;
                break;
            case "field type changed":
                Field(Message(reapi, "Digest"), "size_bytes").Type = FieldDescriptorProto.Types.Type.Int32;
                break;
            case "field made repeated":
                Field(Message(reapi, "Action"), "command_digest").Label = FieldDescriptorProto.Types.Label.Repeated;
                break;
            case "field message type changed":
                Field(Message(reapi, "Action"), "input_root_digest").TypeName = ".build.bazel.remote.execution.v2.Directory";
                break;
            case "nested field renamed":
                Field(Message(reapi, "BatchReadBlobsResponse").NestedType.Single(), "data").Name = "bytes";
                break;
            case "enum value renamed":
                Message(reapi, "ExecutionStage").EnumType.Single().Value.Single(v => v.Number == 2).Name = "QUEUE";
                break;
            case "enum value renumbered":
                Message(reapi, "ExecutionStage").EnumType.Single().Value.Single(v => v.Name == "COMPLETED").Number = 5;
                break;
            case "message renamed":
                Message(reapi, "Tree").Name = "Trees";
                break;
            case "method streaming changed":
                reapi.Service.Single(s => s.Name == "Execution").Method.Single(m => m.Name == "Execute").ServerStreaming = false;
                break;
            case "field left oneof":
                FileDescriptorProto lro = files.Single(f => f.Package == "google.longrunning");
                Field(Message(lro, "Operation"), "error").ClearOneofIndex();
                break;
            case "field dropped":
                FileDescriptorProto bytestream = files.Single(f => f.Package == "google.bytestream");
                DescriptorProto write = Message(bytestream, "WriteRequest");
                write.Field.Remove(Field(write, "finish_write"));
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(typo), typo, null);
        }
    }
}
