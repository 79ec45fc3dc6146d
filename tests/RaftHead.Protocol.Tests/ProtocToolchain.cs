using System.Diagnostics;
using System.Runtime.InteropServices;

namespace RaftHead.Protocol.Tests;

/// <summary>
/// Finds a protoc and the directory holding google/protobuf/*.proto, and runs it.
/// Order: $RAFTHEAD_PROTOC (with $RAFTHEAD_PROTOC_INCLUDE), the protoc shipped in the Grpc.Tools
/// NuGet package (the compiler that generated our C#), then a protoc on PATH (Debian's
/// protobuf-compiler, with /usr/include).
/// </summary>
internal sealed class ProtocToolchain
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(30);

    private ProtocToolchain(string protocPath, string wellKnownInclude)
    {
        ProtocPath = protocPath;
        WellKnownInclude = wellKnownInclude;
    }

    public string ProtocPath { get; }

    /// <summary>Import root containing google/protobuf/any.proto and friends.</summary>
    public string WellKnownInclude { get; }

    public static ProtocToolchain? TryLocate(out string why)
    {
        string? explicitProtoc = Environment.GetEnvironmentVariable("RAFTHEAD_PROTOC");
        if (!string.IsNullOrEmpty(explicitProtoc))
        {
            string include = Environment.GetEnvironmentVariable("RAFTHEAD_PROTOC_INCLUDE") ?? "/usr/include";
            if (File.Exists(explicitProtoc) && HasWellKnownTypes(include))
            {
                why = string.Empty;
                return new ProtocToolchain(explicitProtoc, include);
            }

            why = $"RAFTHEAD_PROTOC={explicitProtoc} (include {include}) does not exist or lacks google/protobuf/any.proto.";
            return null;
        }

        ProtocToolchain? fromNuGet = FromGrpcToolsPackage();
        if (fromNuGet is not null)
        {
            why = string.Empty;
            return fromNuGet;
        }

        string? onPath = FindOnPath(OperatingSystem.IsWindows() ? "protoc.exe" : "protoc");
        if (onPath is not null && HasWellKnownTypes("/usr/include"))
        {
            why = string.Empty;
            return new ProtocToolchain(onPath, "/usr/include");
        }

        why = "No protoc found: neither the Grpc.Tools NuGet package (NUGET_PACKAGES or ~/.nuget/packages) " +
              "nor a protoc on PATH with /usr/include/google/protobuf.";
        return null;
    }

    /// <summary>Runs protoc; returns its exit code, raw stdout and stderr text.</summary>
    public async Task<ProtocResult> RunAsync(IEnumerable<string> arguments, byte[]? stdin = null)
    {
        var start = new ProcessStartInfo(ProtocPath)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {ProtocPath}");
        using var timeout = new CancellationTokenSource(RunTimeout);
        var stdout = new MemoryStream();
        Task copyOut = process.StandardOutput.BaseStream.CopyToAsync(stdout, timeout.Token);
        Task<string> readErr = process.StandardError.ReadToEndAsync(timeout.Token);
        if (stdin is not null)
        {
            await process.StandardInput.BaseStream.WriteAsync(stdin, timeout.Token);
        }

        process.StandardInput.Close();
        try
        {
            await process.WaitForExitAsync(timeout.Token);
            await copyOut;
            return new ProtocResult(process.ExitCode, stdout.ToArray(), await readErr);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"protoc did not finish within {RunTimeout.TotalSeconds} s");
        }
    }

    private static ProtocToolchain? FromGrpcToolsPackage()
    {
        string? root = Environment.GetEnvironmentVariable("NUGET_PACKAGES");
        if (string.IsNullOrEmpty(root))
        {
            root = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        }

        string tools = Path.Combine(root, "grpc.tools");
        if (!Directory.Exists(tools))
        {
            return null;
        }

        string? platform = PlatformDirectory();
        if (platform is null)
        {
            return null;
        }

        string exe = OperatingSystem.IsWindows() ? "protoc.exe" : "protoc";
        ProtocToolchain? best = null;
        Version? bestVersion = null;
        foreach (string versionDir in Directory.EnumerateDirectories(tools))
        {
            string protoc = Path.Combine(versionDir, "tools", platform, exe);
            string include = Path.Combine(versionDir, "build", "native", "include");
            if (!File.Exists(protoc) || !HasWellKnownTypes(include))
            {
                continue;
            }

            // Pre-release suffixes sort below the release; good enough to pick a newest.
            string name = Path.GetFileName(versionDir);
            int dash = name.IndexOf('-', StringComparison.Ordinal);
            if (!Version.TryParse(dash < 0 ? name : name[..dash], out Version? version))
            {
                continue;
            }

            if (bestVersion is null || version > bestVersion)
            {
                bestVersion = version;
                best = new ProtocToolchain(protoc, include);
            }
        }

        return best;
    }

    private static string? PlatformDirectory()
    {
        string? os = OperatingSystem.IsLinux() ? "linux"
            : OperatingSystem.IsMacOS() ? "macosx"
            : OperatingSystem.IsWindows() ? "windows"
            : null;
        string? arch = RuntimeInformation.OSArchitecture switch
        {
            Architecture.X64 => "x64",
            Architecture.Arm64 => "arm64",
            Architecture.X86 => "x86",
            _ => null,
        };
        if (os is null || arch is null)
        {
            return null;
        }

        // Grpc.Tools ships macOS binaries as macosx_x64 only (universal); use it for arm64 too.
        return os == "macosx" ? "macosx_x64" : $"{os}_{arch}";
    }

    private static bool HasWellKnownTypes(string include) =>
        File.Exists(Path.Combine(include, "google", "protobuf", "any.proto"));

    private static string? FindOnPath(string exe)
    {
        string? path = Environment.GetEnvironmentVariable("PATH");
        if (string.IsNullOrEmpty(path))
        {
            return null;
        }

        foreach (string dir in path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, exe);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}
