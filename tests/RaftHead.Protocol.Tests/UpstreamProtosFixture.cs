using Google.Protobuf.Reflection;
using Xunit.Abstractions;

namespace RaftHead.Protocol.Tests;

/// <summary>
/// The upstream REAPI and googleapis .proto files shipped by Debian's bazel-bootstrap-source
/// package, compiled once per test run to a FileDescriptorSet (temp dir, deleted straight away).
/// </summary>
public sealed class UpstreamProtosFixture : IAsyncLifetime
{
    /// <summary>Files compiled, relative to their import roots; the rest come in as imports.</summary>
    public static readonly IReadOnlyList<string> UpstreamFiles =
    [
        "build/bazel/remote/execution/v2/remote_execution.proto",
        "build/bazel/semver/semver.proto",
        "google/bytestream/bytestream.proto",
        "google/longrunning/operations.proto",
        "google/rpc/status.proto",
    ];

    private const string DefaultThirdParty = "/usr/src/bazel-bootstrap/third_party";

    /// <summary>Null when everything needed was found and compiled.</summary>
    public string? MissingReason { get; private set; }

    public FileDescriptorSet? Set { get; private set; }

    internal ProtocToolchain? Toolchain { get; private set; }

    /// <summary>-I roots for the upstream files (remoteapis, googleapis, well-known types).</summary>
    public IReadOnlyList<string> IncludeRoots { get; private set; } = [];

    public async Task InitializeAsync()
    {
        string thirdParty = Environment.GetEnvironmentVariable("RAFTHEAD_BAZEL_THIRD_PARTY") ?? DefaultThirdParty;
        string remoteApis = Path.Combine(thirdParty, "remoteapis");
        string googleApis = Path.Combine(thirdParty, "googleapis");
        var missing = new List<string>();
        foreach (string file in UpstreamFiles)
        {
            string root = file.StartsWith("build/", StringComparison.Ordinal) ? remoteApis : googleApis;
            if (!File.Exists(Path.Combine(root, file)))
            {
                missing.Add(Path.Combine(root, file));
            }
        }

        if (missing.Count > 0)
        {
            MissingReason = "Upstream .proto files not found (Debian package bazel-bootstrap-source): " +
                            string.Join(", ", missing);
            return;
        }

        Toolchain = ProtocToolchain.TryLocate(out string why);
        if (Toolchain is null)
        {
            MissingReason = why;
            return;
        }

        IncludeRoots = [remoteApis, googleApis, Toolchain.WellKnownInclude];
        string temp = Directory.CreateTempSubdirectory("rafthead-upstream-protos-").FullName;
        try
        {
            string output = Path.Combine(temp, "upstream.pb");
            var args = new List<string>();
            foreach (string root in IncludeRoots)
            {
                args.Add("-I" + root);
            }

            args.Add("--include_imports");
            args.Add("--descriptor_set_out=" + output);
            args.AddRange(UpstreamFiles);
            ProtocResult result = await Toolchain.RunAsync(args);
            if (result.ExitCode != 0)
            {
                // The files are there but do not compile: a real failure, not a missing dependency.
                throw new InvalidOperationException(
                    $"protoc ({Toolchain.ProtocPath}) failed on the upstream files: {result.Stderr}");
            }

            Set = FileDescriptorSet.Parser.ParseFrom(await File.ReadAllBytesAsync(output));
        }
        finally
        {
            Directory.Delete(temp, recursive: true);
        }
    }

    public Task DisposeAsync() => Task.CompletedTask;

    /// <summary>
    /// True when the upstream descriptors are available. Otherwise fails the test on CI
    /// (CI=true), or writes why to the test output and returns false so the test can end early.
    /// </summary>
    public bool IsAvailable(ITestOutputHelper output)
    {
        if (MissingReason is null)
        {
            return true;
        }

        string message = $"{MissingReason} Run scripts/install-test-deps.sh to install the test dependencies.";
        if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            Assert.Fail(message);
        }

        output.WriteLine("NOT RUN: " + message);
        return false;
    }
}
