using System.Runtime.InteropServices;

namespace RaftHead.Protocol;

/// <summary>This machine in REAPI's platform lexicon, as heads and workers both advertise it.</summary>
public static class PlatformLexicon
{
    /// <summary>The <c>OSFamily</c> property name.</summary>
    public const string OsFamilyName = "OSFamily";

    /// <summary>The <c>ISA</c> property name.</summary>
    public const string IsaName = "ISA";

    /// <summary>This machine's OSFamily value (linux, macos, windows, freebsd; else the OS description).</summary>
    public static string OsFamily { get; } =
        OperatingSystem.IsLinux() ? "linux"
        : OperatingSystem.IsMacOS() ? "macos"
        : OperatingSystem.IsWindows() ? "windows"
        : OperatingSystem.IsFreeBSD() ? "freebsd"
        : RuntimeInformation.OSDescription;

    /// <summary>This machine's ISA value (x86-64, x86-32, arm-a64, arm-a32; else the architecture's name).</summary>
    public static string Isa { get; } = RuntimeInformation.OSArchitecture switch
    {
        Architecture.X64 => "x86-64",
        Architecture.X86 => "x86-32",
        Architecture.Arm64 => "arm-a64",
        Architecture.Arm => "arm-a32",
        var other => other.ToString().ToLowerInvariant(),
    };
}
