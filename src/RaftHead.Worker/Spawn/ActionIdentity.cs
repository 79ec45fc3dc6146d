using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using RaftHead.Worker.Sandbox;

namespace RaftHead.Worker.Spawn;

/// <summary>
/// The actions' user and network namespace, worn by the spawning thread only for the length of one posix_spawn or
/// one access check, then put off again.
/// </summary>
/// <remarks>
/// Linux keeps credentials and namespaces per thread, and a thread starts with those of the thread that made it. The
/// runtime makes threads from whichever thread first needs one: the thread pool grows from the thread that queues work,
/// and that is the spawning thread each time it reports an action's start or exit. A spawning thread that kept the
/// actions' identity for good passed it to thread-pool threads, and a server or client socket opened on one of those
/// lived in the actions' empty network namespace (a head started on such a thread listened where no client could
/// reach it), its files owned by the actions' user. So between spawns the thread is root in the host's namespace
/// again, and inside a window it calls nothing but libc through function pointers: no managed call that could compile,
/// count calls for tiering, or queue work, and so make a thread.
/// <para>
/// The user is dropped with its saved user id kept as root, which is what lets the thread return; the exec that follows
/// the spawn copies the dropped effective id over the saved one, so the action itself holds no way back (the spawn path
/// tests read all four ids and both capability sets inside an action).
/// </para>
/// </remarks>
internal sealed unsafe class ActionIdentity : IDisposable
{
    private const int Unchanged = -1;

    private readonly delegate* unmanaged<int, int, int> _setns;
    private readonly delegate* unmanaged<int, int> _unshare;
    private readonly delegate* unmanaged<byte*, int, int> _open;
    private readonly delegate* unmanaged<long, long, long, long, long> _syscall;
    private readonly delegate* unmanaged<int*, byte*, void*, void*, byte**, byte**, int> _spawn;
    private readonly delegate* unmanaged<int, byte*, int, int, int> _accessAt;
    private readonly delegate* unmanaged<int*> _errno;
    private readonly long _setGroups;
    private readonly long _setResUid;
    private readonly long _setResGid;
    private readonly bool _dropsUser;
    private readonly int _uid;
    private readonly int _gid;
    private readonly uint* _own; // the thread's real, effective and saved uid, then the same three gids
    private readonly uint* _groups;
    private readonly int _groupCount;
    private int _hostNetwork = -1;
    private int _actionNetwork = -1;

    private ActionIdentity(UnixUser? user, uint* own, uint* groups, int groupCount)
    {
        _setns = (delegate* unmanaged<int, int, int>)SpawnNative.Export("setns");
        _unshare = (delegate* unmanaged<int, int>)SpawnNative.Export("unshare");
        _open = (delegate* unmanaged<byte*, int, int>)SpawnNative.Export("open");
        _syscall = (delegate* unmanaged<long, long, long, long, long>)SpawnNative.Export("syscall");
        _spawn = (delegate* unmanaged<int*, byte*, void*, void*, byte**, byte**, int>)SpawnNative.Export("posix_spawn");
        _accessAt = (delegate* unmanaged<int, byte*, int, int, int>)SpawnNative.Export("faccessat");
        _errno = (delegate* unmanaged<int*>)SpawnNative.Export("__errno_location");
        (_setGroups, _setResUid, _setResGid) = SpawnNative.CredentialCalls!.Value;
        _dropsUser = user is not null;
        _uid = user?.Uid ?? 0;
        _gid = user?.Gid ?? 0;
        _own = own;
        _groups = groups;
        _groupCount = groupCount;
    }

    /// <summary>Whether the actions get a network namespace of their own.</summary>
    public bool OwnNetworkNamespace => _actionNetwork >= 0;

    /// <summary>
    /// Makes the actions' network namespace (when asked and allowed) and checks that the thread can wear the user and
    /// put it off again; null with the reason when it cannot. Call on the spawning thread.
    /// </summary>
    public static ActionIdentity? TryCreate(UnixUser? user, bool ownNetwork, out string? whyNot)
    {
        if (SpawnNative.Export("setns") == 0 || SpawnNative.Export("__errno_location") == 0 || SpawnNative.CredentialCalls is null)
        {
            whyNot = "this libc has no setns or __errno_location, or the system call numbers of this architecture are unknown";
            return null;
        }

        var own = (uint*)NativeMemory.Alloc(6, sizeof(uint));
        var groupCount = SpawnNative.GetGroups(0, null);
        var groups = (uint*)NativeMemory.Alloc((nuint)Math.Max(groupCount, 1), sizeof(uint));
        var identity = new ActionIdentity(user, own, groups, Math.Max(groupCount, 0));
        if (SpawnNative.GetResUid(own, own + 1, own + 2) != 0
            || SpawnNative.GetResGid(own + 3, own + 4, own + 5) != 0
            || groupCount < 0
            || (groupCount > 0 && SpawnNative.GetGroups(groupCount, groups) != groupCount))
        {
            whyNot = $"could not read the credentials of the spawning thread: {SpawnNative.Describe(LibC.LastError)}";
            identity.Dispose();
            return null;
        }

        identity.Prepare();
        if (ownNetwork)
        {
            fixed (byte* self = "/proc/thread-self/ns/net\0"u8)
            {
                identity._hostNetwork = SpawnNative.Open(self, SpawnNative.O_RDONLY | SpawnNative.O_CLOEXEC);
                if (identity._hostNetwork >= 0)
                {
                    identity._actionNetwork = identity.MakeNetworkNamespace(self);
                }
            }
        }

        var error = identity.Trial();
        if (error != 0)
        {
            whyNot = $"could not {(user is null ? "enter the actions' network namespace" : $"drop to user {user.Name}")}: {SpawnNative.Describe(error)}";
            identity.Dispose();
            return null;
        }

        whyNot = null;
        return identity;
    }

    /// <summary>posix_spawn as the actions' user, in their namespace: 0 or the error number.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public int Spawn(int* pid, byte* path, void* fileActions, void* attributes, byte** argv, byte** envp)
    {
        var error = Enter();
        if (error == 0)
        {
            error = _spawn(pid, path, fileActions, attributes, argv, envp);
        }

        Leave();
        return error;
    }

    /// <summary>Whether the actions' user may execute <paramref name="path"/>: 0 or the error number.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public int CanExecute(byte* path)
    {
        var error = Enter();
        if (error == 0 && _accessAt(SpawnNative.AT_FDCWD, path, SpawnNative.X_OK, 0) != 0)
        {
            error = *_errno();
        }

        Leave();
        return error;
    }

    public void Dispose()
    {
        if (_hostNetwork >= 0)
        {
            _ = LibC.Close(_hostNetwork);
        }

        if (_actionNetwork >= 0)
        {
            _ = LibC.Close(_actionNetwork);
        }

        NativeMemory.Free(_own);
        NativeMemory.Free(_groups);
    }

    /// <summary>Compiles the window's code before the first window, so no window waits on the compiler.</summary>
    private void Prepare()
    {
        const System.Reflection.BindingFlags flags = System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.NonPublic;
        foreach (var name in (string[])[nameof(Enter), nameof(Leave), nameof(Spawn), nameof(CanExecute), nameof(Trial), nameof(MakeNetworkNamespace)])
        {
            RuntimeHelpers.PrepareMethod(typeof(ActionIdentity).GetMethod(name, flags)!.MethodHandle);
        }
    }

    /// <summary>A new network namespace, entered only to take a handle on it: the handle, or -1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private int MakeNetworkNamespace(byte* threadNamespace)
    {
        if (_unshare(SpawnNative.CLONE_NEWNET) != 0)
        {
            return -1;
        }

        var handle = _open(threadNamespace, SpawnNative.O_RDONLY | SpawnNative.O_CLOEXEC);
        if (_setns(_hostNetwork, SpawnNative.CLONE_NEWNET) != 0)
        {
            Environment.FailFast("the action spawner could not return to the host's network namespace");
        }

        return handle;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private int Trial()
    {
        var error = Enter();
        Leave();
        return error;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private int Enter()
    {
        if (_actionNetwork >= 0 && _setns(_actionNetwork, SpawnNative.CLONE_NEWNET) != 0)
        {
            return *_errno();
        }

        // Groups and group first: once the user id is dropped, they can no longer be changed. The saved ids stay.
        if (_dropsUser
            && (_syscall(_setGroups, 0, 0, 0) != 0
                || _syscall(_setResGid, _gid, _gid, Unchanged) != 0
                || _syscall(_setResUid, _uid, _uid, Unchanged) != 0))
        {
            return *_errno();
        }

        return 0;
    }

    /// <summary>Back to the thread's own identity; a thread that cannot get back must not run on.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Leave()
    {
        if (_dropsUser
            && (_syscall(_setResUid, _own[0], _own[1], _own[2]) != 0
                || _syscall(_setResGid, _own[3], _own[4], _own[5]) != 0
                || _syscall(_setGroups, _groupCount, (long)_groups, 0) != 0))
        {
            Environment.FailFast("the action spawner could not return to its own user");
        }

        if (_actionNetwork >= 0 && _setns(_hostNetwork, SpawnNative.CLONE_NEWNET) != 0)
        {
            Environment.FailFast("the action spawner could not return to the host's network namespace");
        }
    }
}
