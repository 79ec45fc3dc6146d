using Build.Bazel.Remote.Execution.V2;
using Build.Bazel.Semver;
using Google.ByteStream;
using Google.LongRunning;
using Google.Protobuf.Reflection;

namespace RaftHead.Protocol.Tests;

/// <summary>The descriptors compiled into RaftHead.Protocol, and where our .proto sources live.</summary>
internal static class OurProtos
{
    /// <summary>Every file we generate C# for (google/rpc is import-only and comes from a package).</summary>
    public static IReadOnlyList<FileDescriptor> Generated =>
    [
        RemoteExecutionReflection.Descriptor,
        SemverReflection.Descriptor,
        BytestreamReflection.Descriptor,
        OperationsReflection.Descriptor,
    ];

    /// <summary>The exact descriptor bytes embedded in the generated code, as a proto.</summary>
    public static FileDescriptorProto ToProto(FileDescriptor file) =>
        FileDescriptorProto.Parser.ParseFrom(file.SerializedData);

    public static List<FileDescriptorProto> GeneratedProtos()
    {
        var result = new List<FileDescriptorProto>();
        foreach (FileDescriptor file in Generated)
        {
            result.Add(ToProto(file));
        }

        return result;
    }

    /// <summary>The repository's proto/ directory, found by walking up from the test binaries.</summary>
    public static string ProtoRoot()
    {
        for (DirectoryInfo? dir = new(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "proto");
            if (File.Exists(Path.Combine(candidate, "google", "rpc", "status.proto")))
            {
                return candidate;
            }
        }

        throw new DirectoryNotFoundException($"no proto/google/rpc/status.proto above {AppContext.BaseDirectory}");
    }
}
