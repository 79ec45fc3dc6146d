using System.Runtime.InteropServices;

namespace RaftHead.Bench.Execution;

/// <summary>The two system calls the materializer makes that .NET has no API for (the worker's own LibC is internal).</summary>
internal static partial class Posix
{
    [LibraryImport("libc", EntryPoint = "link", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int Link(string existing, string created);

    [LibraryImport("libc", EntryPoint = "lchown", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int LChown(string path, int owner, int group);

    [LibraryImport("libc", EntryPoint = "geteuid")]
    public static partial int GetEffectiveUserId();
}
