using System.Diagnostics;

using RaftHead.Testing;

namespace RaftHead.Durability.Tests;

public sealed class DataDirectoryLockTests : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void The_holder_writes_its_pid_into_the_lock_file()
    {
        using var held = DataDirectoryLock.Acquire(_dir.Path);
        Assert.Equal(Path.Combine(_dir.Path, "LOCK"), held.LockFilePath);
        Assert.Equal($"{Environment.ProcessId}\n", ReadLockFile());
    }

    [Fact]
    public void A_second_acquire_in_the_same_process_fails_naming_directory_pid_and_lock_file()
    {
        using var held = DataDirectoryLock.Acquire(_dir.Path);
        var error = Assert.Throws<DataDirectoryInUseException>(() => DataDirectoryLock.Acquire(_dir.Path));
        Assert.Equal(
            $"data directory {_dir.Path} is in use by process {Environment.ProcessId} (lock file {Path.Combine(_dir.Path, "LOCK")})",
            error.Message);
        Assert.Equal(Environment.ProcessId, error.HolderProcessId);
        Assert.Equal($"{Environment.ProcessId}\n", ReadLockFile());
    }

    [Fact]
    public void After_dispose_the_directory_can_be_locked_again()
    {
        DataDirectoryLock.Acquire(_dir.Path).Dispose();
        using var again = DataDirectoryLock.Acquire(_dir.Path);
    }

    [Fact]
    public void A_missing_directory_is_an_error_not_a_lock()
    {
        string missing = _dir.Combine("not-there");
        var error = Assert.Throws<IOException>(() => DataDirectoryLock.Acquire(missing));
        Assert.Contains(missing, error.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(missing));
    }

    [Fact]
    public async Task A_lock_held_by_another_process_is_refused_with_its_pid_and_freed_when_it_is_killed()
    {
        using var holder = await LockHolder.StartAsync(_dir.Path, Bound);
        var error = Assert.Throws<DataDirectoryInUseException>(() => DataDirectoryLock.Acquire(_dir.Path));
        Assert.Equal(holder.ProcessId, error.HolderProcessId);
        Assert.Contains($"in use by process {holder.ProcessId}", error.Message, StringComparison.Ordinal);

        await holder.KillAsync();
        using var mine = DataDirectoryLock.Acquire(_dir.Path);
        Assert.Equal($"{Environment.ProcessId}\n", ReadLockFile());
    }

    [Fact]
    public async Task The_lock_is_an_flock_other_tools_see()
    {
        using (DataDirectoryLock.Acquire(_dir.Path))
        {
            Assert.Equal(1, await RunFlockAsync());
        }

        Assert.Equal(0, await RunFlockAsync());
    }

    [Fact]
    public async Task A_lock_held_by_flock_the_tool_is_refused()
    {
        string lockFile = Path.Combine(_dir.Path, "LOCK");
        var start = new ProcessStartInfo("/usr/bin/flock", ["--exclusive", lockFile, "/bin/sh", "-c", "echo locked; read line"])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        using var tool = Process.Start(start)!;
        Assert.Equal("locked", await tool.StandardOutput.ReadLineAsync().WaitAsync(Bound));

        var error = Assert.Throws<DataDirectoryInUseException>(() => DataDirectoryLock.Acquire(_dir.Path));
        Assert.Null(error.HolderProcessId); // the tool writes no pid
        Assert.Contains("in use by another process", error.Message, StringComparison.Ordinal);

        tool.StandardInput.Close();
        await tool.WaitForExitAsync().WaitAsync(Bound);
        using var mine = DataDirectoryLock.Acquire(_dir.Path);
    }

    /// <summary>
    /// A child this process is starting holds a copy of every descriptor between its fork and its exec, so a lock
    /// just released can look held, with our own pid in the file. Played here by a second descriptor of our own that
    /// locks the file without a <see cref="DataDirectoryLock"/>: an acquire waits for it rather than failing.
    /// </summary>
    [Fact]
    public async Task A_lock_only_a_starting_child_still_holds_is_waited_for_not_refused()
    {
        DataDirectoryLock.Acquire(_dir.Path).Dispose();
        var copy = LibC.Open(Path.Combine(_dir.Path, "LOCK"), LibC.ReadOnly | LibC.CloseOnExec, 0);
        Assert.True(copy >= 0);
        Assert.Equal(0, LibC.Flock(copy, LibC.LockExclusive | LibC.LockNonBlocking));
        using var attempting = new ManualResetEventSlim();
        var acquire = Task.Run(() =>
        {
            attempting.Set();
            return DataDirectoryLock.Acquire(_dir.Path);
        });
        attempting.Wait(Bound);
        Assert.False(acquire.IsCompleted, "the acquire finished while the copy held the lock");
        LibC.Close(copy);
        using var held = await acquire.WaitAsync(Bound);
        Assert.Equal(1, await RunFlockAsync());
    }

    [Fact]
    public void A_copy_that_never_lets_go_is_reported_as_the_holder_after_the_wait()
    {
        DataDirectoryLock.Acquire(_dir.Path).Dispose();
        var copy = LibC.Open(Path.Combine(_dir.Path, "LOCK"), LibC.ReadOnly | LibC.CloseOnExec, 0);
        try
        {
            Assert.Equal(0, LibC.Flock(copy, LibC.LockExclusive | LibC.LockNonBlocking));
            var error = Assert.Throws<DataDirectoryInUseException>(() => DataDirectoryLock.Acquire(_dir.Path));
            Assert.Equal(Environment.ProcessId, error.HolderProcessId);
        }
        finally
        {
            LibC.Close(copy);
        }
    }

    private string ReadLockFile()
    {
        // Through a descriptor of our own without .NET's FileShare emulation, which would itself try to flock.
        using var stream = new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(OpenRaw(Path.Combine(_dir.Path, "LOCK")), ownsHandle: true), FileAccess.Read);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    private static nint OpenRaw(string path)
    {
        int fd = LibC.Open(path, LibC.ReadOnly | LibC.CloseOnExec, 0);
        Assert.True(fd >= 0, $"cannot open {path}");
        return fd;
    }

    /// <summary>Exit code of <c>flock --nonblock LOCK true</c>: 0 if it got the lock, 1 if someone holds it.</summary>
    private async Task<int> RunFlockAsync()
    {
        using var tool = Process.Start(new ProcessStartInfo("/usr/bin/flock", ["--nonblock", "--conflict-exit-code", "1", Path.Combine(_dir.Path, "LOCK"), "true"]) { UseShellExecute = false })!;
        await tool.WaitForExitAsync().WaitAsync(Bound);
        return tool.ExitCode;
    }
}
