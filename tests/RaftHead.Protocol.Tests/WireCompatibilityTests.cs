using System.Text;
using Build.Bazel.Remote.Execution.V2;
using Build.Bazel.Semver;
using Google.ByteStream;
using Google.LongRunning;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Xunit.Abstractions;
using Action = Build.Bazel.Remote.Execution.V2.Action;

namespace RaftHead.Protocol.Tests;

/// <summary>
/// Bytes, not just descriptors: protoc encodes a text-format message with the UPSTREAM schema, and
/// the same message built with our generated C# must serialize to identical bytes and parse back
/// equal. Byte equality also proves we have a known field for everything the upstream encoder wrote.
/// </summary>
[Collection(UpstreamProtosCollection.Name)]
public sealed class WireCompatibilityTests(UpstreamProtosFixture upstream, ITestOutputHelper output)
{
    private const string Hash1 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    private const string Hash2 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    public static TheoryData<string> Cases => new()
    {
        nameof(Action), nameof(Command), nameof(ExecuteResponse), nameof(BatchReadBlobsResponse),
        nameof(Operation), nameof(ServerCapabilities), nameof(WriteRequest),
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task UpstreamEncodingEqualsOurs(string name)
    {
        if (!upstream.IsAvailable(output))
        {
            return;
        }

        (string upstreamType, string text, IMessage ours) = Case(name);
        var args = upstream.IncludeRoots.Select(root => "-I" + root).ToList();
        args.Add("--encode=" + upstreamType);
        args.AddRange(UpstreamProtosFixture.UpstreamFiles);

        ProtocResult result = await upstream.Toolchain!.RunAsync(args, Encoding.UTF8.GetBytes(text));

        Assert.True(result.ExitCode == 0, $"protoc --encode failed: {result.Stderr}");
        Assert.NotEmpty(result.Stdout);
        Assert.Equal(Convert.ToHexString(result.Stdout), Convert.ToHexString(ours.ToByteArray()));
        IMessage parsed = ours.Descriptor.Parser.ParseFrom(result.Stdout);
        Assert.Equal(ours, parsed);
    }

    private static (string UpstreamType, string Text, IMessage Ours) Case(string name) => name switch
    {
        nameof(Action) => (
            "build.bazel.remote.execution.v2.Action",
            $$"""
            command_digest { hash: "{{Hash1}}" size_bytes: 3 }
            input_root_digest { hash: "{{Hash2}}" size_bytes: 0 }
            timeout { seconds: 5 nanos: 1 }
            do_not_cache: true
            salt: "\001\002"
            platform { properties { name: "OSFamily" value: "Linux" } }
            """,
            new Action
            {
                CommandDigest = new Digest { Hash = Hash1, SizeBytes = 3 },
                InputRootDigest = new Digest { Hash = Hash2, SizeBytes = 0 },
                Timeout = new Duration { Seconds = 5, Nanos = 1 },
                DoNotCache = true,
                Salt = ByteString.CopyFrom(1, 2),
                Platform = new Platform { Properties = { new Platform.Types.Property { Name = "OSFamily", Value = "Linux" } } },
            }),
        nameof(Command) => (
            "build.bazel.remote.execution.v2.Command",
            """
            arguments: "/bin/echo" arguments: "hi"
            environment_variables { name: "PATH" value: "/bin" }
            output_files: "out/a"
            output_directories: "out/d"
            output_paths: "out/p"
            platform { properties { name: "cpu" value: "x86_64" } }
            working_directory: "w"
            output_node_properties: "mtime"
            """,
            new Command
            {
                Arguments = { "/bin/echo", "hi" },
                EnvironmentVariables = { new Command.Types.EnvironmentVariable { Name = "PATH", Value = "/bin" } },
                OutputFiles = { "out/a" },
                OutputDirectories = { "out/d" },
                OutputPaths = { "out/p" },
                Platform = new Platform { Properties = { new Platform.Types.Property { Name = "cpu", Value = "x86_64" } } },
                WorkingDirectory = "w",
                OutputNodeProperties = { "mtime" },
            }),
        nameof(ExecuteResponse) => (
            "build.bazel.remote.execution.v2.ExecuteResponse",
            $$"""
            result {
              output_files { path: "a.o" digest { hash: "{{Hash1}}" size_bytes: 3 } is_executable: true }
              output_symlinks { path: "l" target: "a.o" }
              output_directories { path: "d" tree_digest { hash: "{{Hash2}}" size_bytes: 0 } }
              exit_code: 1
              stdout_digest { hash: "{{Hash2}}" size_bytes: 0 }
              execution_metadata { worker: "w1" queued_timestamp { seconds: 1700000000 } }
            }
            cached_result: true
            status { code: 4 message: "deadline exceeded" }
            server_logs { key: "setup" value { digest { hash: "{{Hash1}}" size_bytes: 3 } human_readable: true } }
            message: "see logs"
            """,
            new ExecuteResponse
            {
                Result = new ActionResult
                {
                    OutputFiles = { new OutputFile { Path = "a.o", Digest = new Digest { Hash = Hash1, SizeBytes = 3 }, IsExecutable = true } },
                    OutputSymlinks = { new OutputSymlink { Path = "l", Target = "a.o" } },
                    OutputDirectories = { new OutputDirectory { Path = "d", TreeDigest = new Digest { Hash = Hash2 } } },
                    ExitCode = 1,
                    StdoutDigest = new Digest { Hash = Hash2 },
                    ExecutionMetadata = new ExecutedActionMetadata
                    {
                        Worker = "w1",
                        QueuedTimestamp = new Timestamp { Seconds = 1700000000 },
                    },
                },
                CachedResult = true,
                Status = new Google.Rpc.Status { Code = 4, Message = "deadline exceeded" },
                ServerLogs =
                {
                    ["setup"] = new LogFile { Digest = new Digest { Hash = Hash1, SizeBytes = 3 }, HumanReadable = true },
                },
                Message = "see logs",
            }),
        nameof(BatchReadBlobsResponse) => (
            "build.bazel.remote.execution.v2.BatchReadBlobsResponse",
            $$"""
            responses { digest { hash: "{{Hash1}}" size_bytes: 3 } data: "abc" status { } }
            responses { digest { hash: "{{Hash2}}" size_bytes: 7 } status { code: 5 message: "missing" } }
            """,
            new BatchReadBlobsResponse
            {
                Responses =
                {
                    new BatchReadBlobsResponse.Types.Response
                    {
                        Digest = new Digest { Hash = Hash1, SizeBytes = 3 },
                        Data = ByteString.CopyFromUtf8("abc"),
                        Status = new Google.Rpc.Status(),
                    },
                    new BatchReadBlobsResponse.Types.Response
                    {
                        Digest = new Digest { Hash = Hash2, SizeBytes = 7 },
                        Status = new Google.Rpc.Status { Code = 5, Message = "missing" },
                    },
                },
            }),
        nameof(Operation) => (
            "google.longrunning.Operation",
            """
            name: "operations/42"
            metadata { [type.googleapis.com/build.bazel.remote.execution.v2.ExecuteOperationMetadata] { stage: EXECUTING } }
            done: true
            response { [type.googleapis.com/build.bazel.remote.execution.v2.ExecuteResponse] { cached_result: true } }
            """,
            new Operation
            {
                Name = "operations/42",
                Metadata = Any.Pack(new ExecuteOperationMetadata { Stage = ExecutionStage.Types.Value.Executing }),
                Done = true,
                Response = Any.Pack(new ExecuteResponse { CachedResult = true }),
            }),
        nameof(ServerCapabilities) => (
            // The upstream copy still calls CacheCapabilities field 1 digest_function; same number.
            "build.bazel.remote.execution.v2.ServerCapabilities",
            """
            cache_capabilities {
              digest_function: SHA256
              action_cache_update_capabilities { update_enabled: true }
              max_batch_total_size_bytes: 4194304
              symlink_absolute_path_strategy: DISALLOWED
            }
            execution_capabilities { digest_function: SHA256 exec_enabled: true }
            low_api_version { major: 2 }
            high_api_version { major: 2 minor: 2 }
            """,
            new ServerCapabilities
            {
                CacheCapabilities = new CacheCapabilities
                {
                    DigestFunctions = { DigestFunction.Types.Value.Sha256 },
                    ActionCacheUpdateCapabilities = new ActionCacheUpdateCapabilities { UpdateEnabled = true },
                    MaxBatchTotalSizeBytes = 4194304,
                    SymlinkAbsolutePathStrategy = SymlinkAbsolutePathStrategy.Types.Value.Disallowed,
                },
                ExecutionCapabilities = new ExecutionCapabilities
                {
                    DigestFunction = DigestFunction.Types.Value.Sha256,
                    ExecEnabled = true,
                },
                LowApiVersion = new SemVer { Major = 2 },
                HighApiVersion = new SemVer { Major = 2, Minor = 2 },
            }),
        nameof(WriteRequest) => (
            "google.bytestream.WriteRequest",
            $$"""
            resource_name: "main/uploads/0b7e5c1a-1111-4222-8333-444455556666/blobs/{{Hash1}}/3"
            write_offset: 0
            finish_write: true
            data: "abc"
            """,
            new WriteRequest
            {
                ResourceName = $"main/uploads/0b7e5c1a-1111-4222-8333-444455556666/blobs/{Hash1}/3",
                WriteOffset = 0,
                FinishWrite = true,
                Data = ByteString.CopyFromUtf8("abc"),
            }),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, null),
    };
}
