using Build.Bazel.Remote.Execution.V2;
using Google.LongRunning;
using Google.Protobuf.Reflection;
using Xunit.Abstractions;

namespace RaftHead.Protocol.Tests;

/// <summary>
/// proto/google/rpc/*.proto are import-only: the C# types must be Google.Api.CommonProtos' own,
/// and our copies must describe exactly what that package compiled in.
/// </summary>
[Collection(UpstreamProtosCollection.Name)]
public sealed class GoogleRpcImportTests(UpstreamProtosFixture upstream, ITestOutputHelper output)
{
    [Fact]
    public void StatusFieldsResolveToTheCommonProtosType()
    {
        Assert.Same(
            Google.Rpc.Status.Descriptor,
            ExecuteResponse.Descriptor.FindFieldByName("status").MessageType);
        Assert.Same(
            Google.Rpc.Status.Descriptor,
            BatchReadBlobsResponse.Types.Response.Descriptor.FindFieldByName("status").MessageType);
        Assert.Same(
            Google.Rpc.Status.Descriptor,
            Operation.Descriptor.FindFieldByName("error").MessageType);
        Assert.Same(Google.Rpc.StatusReflection.Descriptor, Google.Rpc.Status.Descriptor.File);
        Assert.Equal("Google.Api.CommonProtos", typeof(Google.Rpc.Status).Assembly.GetName().Name);
    }

    [Fact]
    public void ProtocolAssemblyDefinesNoGoogleRpcTypes()
    {
        foreach (Type type in typeof(Digests).Assembly.GetTypes())
        {
            Assert.False(
                type.Namespace?.StartsWith("Google.Rpc", StringComparison.Ordinal) ?? false,
                $"{type.FullName} was generated into RaftHead.Protocol; google/rpc must stay import-only");
        }
    }

    [Fact]
    public void StatusRoundTripsThroughExecuteResponse()
    {
        var response = new ExecuteResponse
        {
            Status = new Google.Rpc.Status { Code = (int)Google.Rpc.Code.DeadlineExceeded, Message = "timed out" },
        };

        ExecuteResponse parsed = ExecuteResponse.Parser.ParseFrom(Google.Protobuf.MessageExtensions.ToByteArray(response));

        Assert.Equal(response, parsed);
        Assert.Equal((int)Google.Rpc.Code.DeadlineExceeded, parsed.Status.Code);
    }

    [Fact]
    public async Task ImportOnlyCopiesMatchTheCommonProtosDescriptors()
    {
        ProtocToolchain? protoc = ProtocToolchain.TryLocate(out string why);
        if (protoc is null)
        {
            // Grpc.Tools is restored with the Protocol project, so this means a broken setup.
            Assert.Fail(why);
        }

        string protoRoot = OurProtos.ProtoRoot();
        var files = System.IO.Directory.GetFiles(Path.Combine(protoRoot, "google", "rpc"), "*.proto")
            .Select(f => Path.GetRelativePath(protoRoot, f).Replace('\\', '/'))
            .Order(StringComparer.Ordinal)
            .ToList();
        Assert.NotEmpty(files);

        FileDescriptorSet ours = await CompileAsync(protoc, [protoRoot, protoc.WellKnownInclude], files);
        var packageFiles = new Dictionary<string, FileDescriptor>(StringComparer.Ordinal)
        {
            [Google.Rpc.StatusReflection.Descriptor.Name] = Google.Rpc.StatusReflection.Descriptor,
            [Google.Rpc.CodeReflection.Descriptor.Name] = Google.Rpc.CodeReflection.Descriptor,
            [Google.Rpc.ErrorDetailsReflection.Descriptor.Name] = Google.Rpc.ErrorDetailsReflection.Descriptor,
        };

        foreach (string file in files)
        {
            Assert.True(packageFiles.TryGetValue(file, out FileDescriptor? packaged), $"{file} is not a file Google.Api.CommonProtos provides");
            FileDescriptorProto ourFile = ours.File.Single(f => f.Name == file);
            FileDescriptorProto packagedFile = OurProtos.ToProto(packaged);

            IReadOnlyList<string> problems = DescriptorComparer.Compare([ourFile], [packagedFile], KnownDifferences.None);
            Assert.True(problems.Count == 0, $"{file} differs from Google.Api.CommonProtos:\n" + string.Join("\n", problems));
            Assert.Equal(packagedFile.Dependency, ourFile.Dependency);
        }
    }

    [Fact]
    public void CommonProtosStatusMatchesUpstreamStatus()
    {
        if (!upstream.IsAvailable(output))
        {
            return;
        }

        FileDescriptorProto upstreamStatus = upstream.Set!.File.Single(f => f.Name == "google/rpc/status.proto");
        IReadOnlyList<string> problems = DescriptorComparer.Compare(
            [OurProtos.ToProto(Google.Rpc.StatusReflection.Descriptor)], [upstreamStatus], KnownDifferences.None);

        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    private static async Task<FileDescriptorSet> CompileAsync(
        ProtocToolchain protoc, IReadOnlyList<string> includes, IReadOnlyList<string> files)
    {
        string temp = System.IO.Directory.CreateTempSubdirectory("rafthead-rpc-protos-").FullName;
        try
        {
            string output = Path.Combine(temp, "set.pb");
            var args = includes.Select(i => "-I" + i).ToList();
            args.Add("--descriptor_set_out=" + output);
            args.AddRange(files);
            ProtocResult result = await protoc.RunAsync(args);
            Assert.True(result.ExitCode == 0, $"protoc failed: {result.Stderr}");
            return FileDescriptorSet.Parser.ParseFrom(await File.ReadAllBytesAsync(output));
        }
        finally
        {
            System.IO.Directory.Delete(temp, recursive: true);
        }
    }
}
