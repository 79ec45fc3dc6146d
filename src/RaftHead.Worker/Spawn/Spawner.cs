using System.Collections.Concurrent;
using RaftHead.Worker.Sandbox;

namespace RaftHead.Worker.Spawn;

/// <summary>
/// Starts actions with posix_spawn from one dedicated thread, which wears the actions' network namespace and user
/// only inside each spawn (<see cref="ActionIdentity"/>), and waits for them on the same thread through pidfds.
/// </summary>
/// <remarks>
/// Linux keeps credentials and namespaces per thread; the libc wrappers only make a change process-wide by applying
/// it to every thread. Changed with raw system calls on this thread alone, they are inherited by the process it
/// spawns, so an action starts with one clone and one exec: no helper programs, and no namespace made per action
/// (making one costs about 3 ms here). The cost is that the actions of one worker share one empty network namespace
/// (its loopback down, as a fresh one is; they still share the abstract unix socket names, as they share /tmp).
/// </remarks>
internal sealed unsafe class Spawner : IDisposable
{
    /// <summary>The wait status bits that hold the signal that ended a process (0: it exited).</summary>
    private const int TermSignalMask = 0x7f;

    private static readonly byte[] DevNull = "/dev/null\0"u8.ToArray();
    private static readonly byte[] DefaultSearchPath = "/bin:/usr/bin\0"u8.ToArray();

    private readonly ConcurrentQueue<SpawnRequest> _queue = new();
    private readonly UnixUser? _user;
    private readonly bool _ownNetwork;
    private readonly delegate* unmanaged<void*, byte*, int> _addChdir;
    private readonly int _wakeFd;
    private readonly Thread _thread;
    private readonly ManualResetEventSlim _ready = new();
    private string? _startFailure;
    private volatile bool _stopping;

    private Spawner(UnixUser? user, bool ownNetwork, nint addChdir, int wakeFd)
    {
        _user = user;
        _ownNetwork = ownNetwork;
        _addChdir = (delegate* unmanaged<void*, byte*, int>)addChdir;
        _wakeFd = wakeFd;
        _thread = new Thread(Run) { IsBackground = true, Name = "action spawner" };
    }

    /// <summary>Whether the actions get their own network namespace (the thread could make one).</summary>
    public bool OwnNetworkNamespace { get; private set; }

    /// <summary>
    /// Starts the spawning thread, or says why this machine cannot: a glibc before 2.29, a kernel before 5.3
    /// (pidfd_open), an architecture whose system call numbers this code does not know, or credentials that will not drop.
    /// </summary>
    public static Spawner? TryStart(UnixUser? user, bool isolateNetwork, out string? whyNot)
    {
        var addChdir = SpawnNative.Export("posix_spawn_file_actions_addchdir_np");
        if (addChdir == 0)
        {
            whyNot = "this glibc has no posix_spawn_file_actions_addchdir_np (glibc 2.29 or later has)";
            return null;
        }

        if (SpawnNative.CredentialCalls is null)
        {
            whyNot = $"no system call numbers for {System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture}";
            return null;
        }

        var self = (int)SpawnNative.Syscall(SpawnNative.SysPidfdOpen, Environment.ProcessId, 0, 0);
        if (self < 0)
        {
            whyNot = $"pidfd_open failed: {SpawnNative.Describe(LibC.LastError)} (Linux 5.3 or later has it)";
            return null;
        }

        _ = LibC.Close(self);
        if (!SupportsSetSid())
        {
            whyNot = "this glibc has no POSIX_SPAWN_SETSID (glibc 2.26 or later has)";
            return null;
        }

        var wakeFd = SpawnNative.EventFd(0, SpawnNative.O_CLOEXEC | SpawnNative.O_NONBLOCK);
        if (wakeFd < 0)
        {
            whyNot = $"eventfd failed: {SpawnNative.Describe(LibC.LastError)}";
            return null;
        }

        var spawner = new Spawner(user, isolateNetwork, addChdir, wakeFd);
        spawner._thread.Start();
        spawner._ready.Wait();
        if (spawner._startFailure is { } failure)
        {
            spawner._thread.Join();
            spawner.Dispose();
            whyNot = failure;
            return null;
        }

        whyNot = null;
        return spawner;
    }

    /// <summary>Hands the request to the spawning thread; <see cref="SpawnRequest.Started"/> completes with the pid or a <see cref="SpawnException"/>.</summary>
    public void Submit(SpawnRequest request)
    {
        if (_stopping)
        {
            request.Fail(new ObjectDisposedException(nameof(Spawner)));
            return;
        }

        _queue.Enqueue(request);
        Wake();
        if (_stopping)
        {
            // The thread may have drained the queue before this request arrived.
            FailQueued();
        }
    }

    public void Dispose()
    {
        _stopping = true;
        if (_thread.IsAlive)
        {
            Wake();
            _thread.Join();
        }

        _ = LibC.Close(_wakeFd);
        _ready.Dispose();
    }

    /// <summary>A wait status as .NET's Process reports it: the exit code, or 128 + the signal that ended the process.</summary>
    public static int ExitCode(int status) => (status & TermSignalMask) == 0 ? (status >> 8) & 0xff : 128 + (status & TermSignalMask);

    private static bool SupportsSetSid()
    {
        var attributes = stackalloc byte[SpawnNative.OpaqueBytes];
        if (SpawnNative.AttrInit(attributes) != 0)
        {
            return false;
        }

        var supported = SpawnNative.AttrSetFlags(attributes, SpawnNative.POSIX_SPAWN_SETSID) == 0;
        _ = SpawnNative.AttrDestroy(attributes);
        return supported;
    }

    private void FailQueued()
    {
        while (_queue.TryDequeue(out var request))
        {
            request.Fail(new ObjectDisposedException(nameof(Spawner)));
        }
    }

    private void Wake()
    {
        long one = 1;
        SpawnNative.Write(_wakeFd, &one, sizeof(long));
    }

    private void Run()
    {
        var attributes = stackalloc byte[SpawnNative.OpaqueBytes];
        var signals = stackalloc byte[SpawnNative.SigsetBytes];
        var mask = stackalloc byte[SpawnNative.SigsetBytes];
        // A fresh session (so a process group the runner kills whole), no blocked signals and every disposition at
        // its default: an ignored signal would survive the exec (.NET ignores SIGPIPE, which the helper programs
        // passed on to every action).
        if (SpawnNative.AttrInit(attributes) != 0
            || SpawnNative.AttrSetFlags(attributes, SpawnNative.POSIX_SPAWN_SETSID | SpawnNative.POSIX_SPAWN_SETSIGMASK | SpawnNative.POSIX_SPAWN_SETSIGDEF) != 0
            || SpawnNative.SigEmptySet(mask) != 0
            || SpawnNative.SigFillSet(signals) != 0
            || SpawnNative.AttrSetSigMask(attributes, mask) != 0)
        {
            _startFailure = "posix_spawnattr_t could not be set up";
            _ready.Set();
            return;
        }

        // glibc's two internal signals (32 and 33), which sigfillset leaves out, are otherwise set to ignored in the
        // child; set to default here they are not inherited ignored by the action. Bits 31 and 32 of the first word.
        ((ulong*)signals)[0] |= 3UL << 31;
        if (SpawnNative.AttrSetSigDefault(attributes, signals) != 0)
        {
            _startFailure = "posix_spawnattr_t could not be set up";
        }

        var identity = _startFailure is null ? ActionIdentity.TryCreate(_user, _ownNetwork, out _startFailure) : null;
        if (identity is null)
        {
            _ = SpawnNative.AttrDestroy(attributes);
            _ready.Set();
            return;
        }

        OwnNetworkNamespace = identity.OwnNetworkNamespace;
        _ready.Set();

        var polls = new SpawnNative.PollFd[8];
        var running = new (int Pid, int PidFd, SpawnRequest Request)[8];
        var count = 0;
        try
        {
            while (true)
            {
                polls[0] = new SpawnNative.PollFd { Fd = _wakeFd, Events = SpawnNative.POLLIN };
                for (var i = 0; i < count; i++)
                {
                    polls[i + 1] = new SpawnNative.PollFd { Fd = running[i].PidFd, Events = SpawnNative.POLLIN };
                }

                int ready;
                fixed (SpawnNative.PollFd* p = polls)
                {
                    ready = SpawnNative.Poll(p, (nuint)(count + 1), -1);
                }

                if (ready < 0)
                {
                    continue; // EINTR
                }

                // Exits first, while the poll entries still line up with the running list.
                for (var i = count - 1; i >= 0; i--)
                {
                    if (polls[i + 1].Revents != 0)
                    {
                        Reap(running[i].Pid, running[i].PidFd, running[i].Request);
                        running[i] = running[--count];
                        running[count] = default;
                    }
                }

                if (polls[0].Revents != 0)
                {
                    long drained;
                    SpawnNative.Read(_wakeFd, &drained, sizeof(long));
                }

                if (_stopping)
                {
                    break;
                }

                while (_queue.TryDequeue(out var request))
                {
                    var pid = Start(identity, request, attributes);
                    if (pid <= 0)
                    {
                        continue;
                    }

                    var pidFd = (int)SpawnNative.Syscall(SpawnNative.SysPidfdOpen, pid, 0, 0);
                    if (pidFd < 0)
                    {
                        // Out of file descriptors, say: an action nobody watches must not run on.
                        var error = LibC.LastError;
                        _ = LibC.Kill(-pid, LibC.SIGKILL);
                        int status;
                        _ = SpawnNative.WaitPid(pid, &status, 0);
                        request.EndedUnknown(new IOException($"pidfd_open failed ({SpawnNative.Describe(error)}); the action was killed at its start"));
                        continue;
                    }

                    if (count + 1 >= polls.Length)
                    {
                        Array.Resize(ref polls, polls.Length * 2);
                        Array.Resize(ref running, running.Length * 2);
                    }

                    running[count++] = (pid, pidFd, request);
                }
            }
        }
        finally
        {
            _stopping = true;
            _ = SpawnNative.AttrDestroy(attributes);
            identity.Dispose();
            FailQueued();

            for (var i = 0; i < count; i++)
            {
                _ = LibC.Close(running[i].PidFd);
                running[i].Request.EndedUnknown(new ObjectDisposedException(nameof(Spawner)));
            }
        }
    }

    /// <summary>
    /// Starts the request's process; a name without a slash is looked up in the Command's PATH (execvp's rules, as
    /// the action's user and from its working directory), not in the worker's.
    /// </summary>
    private int Start(ActionIdentity identity, SpawnRequest request, byte* attributes)
    {
        var actions = stackalloc byte[SpawnNative.OpaqueBytes];
        var error = SpawnNative.FileActionsInit(actions);
        if (error != 0)
        {
            request.Fail(new SpawnException(error, SpawnNative.Describe(error)));
            return 0;
        }

        try
        {
            fixed (byte* devNull = DevNull)
            {
                error = SpawnNative.FileActionsAddOpen(actions, 0, devNull, SpawnNative.O_RDONLY, 0);
            }

            error = error != 0 ? error : SpawnNative.FileActionsAddDup2(actions, request.StdoutFd, 1);
            error = error != 0 ? error : SpawnNative.FileActionsAddDup2(actions, request.StderrFd, 2);
            error = error != 0 ? error : _addChdir(actions, request.WorkingDirectory);

            var program = request.Argv[0];
            var pid = 0;
            if (error == 0 && Contains(program, (byte)'/'))
            {
                error = identity.Spawn(&pid, program, actions, attributes, request.Argv, request.Envp);
            }
            else if (error == 0)
            {
                fixed (byte* fallback = DefaultSearchPath)
                {
                    error = Search(identity, request, request.SearchPath is null ? fallback : request.SearchPath, actions, attributes, &pid);
                }
            }

            if (error != 0)
            {
                request.Fail(new SpawnException(error, SpawnNative.Describe(error)));
                return 0;
            }

            request.Spawned(pid);
            return pid;
        }
        finally
        {
            _ = SpawnNative.FileActionsDestroy(actions);
        }
    }

    private static int Search(ActionIdentity identity, SpawnRequest request, byte* searchPath, byte* actions, byte* attributes, int* pid)
    {
        const int candidateMax = 4096;
        var candidate = stackalloc byte[candidateMax];
        var program = request.Argv[0];
        var programLength = Length(program);
        var denied = false;
        *pid = 0;
        for (var start = searchPath; ; start++)
        {
            var end = start;
            while (*end != 0 && *end != ':')
            {
                end++;
            }

            // An empty entry is the working directory, as "." is.
            var dirLength = (int)(end - start);
            if (dirLength == 0)
            {
                candidate[0] = (byte)'.';
                dirLength = 1;
            }
            else if (dirLength + programLength + 2 <= candidateMax)
            {
                Buffer.MemoryCopy(start, candidate, candidateMax, dirLength);
            }

            if (dirLength + programLength + 2 <= candidateMax)
            {
                candidate[dirLength] = (byte)'/';
                Buffer.MemoryCopy(program, candidate + dirLength + 1, candidateMax - dirLength - 1, programLength + 1);
                // A cheap look first where the path does not depend on the working directory.
                var error = candidate[0] == '/' ? identity.CanExecute(candidate) : 0;
                var absent = error != 0;
                error = absent ? error : identity.Spawn(pid, candidate, actions, attributes, request.Argv, request.Envp);
                if (!absent && error == 0)
                {
                    return 0;
                }

                if (error == SpawnNative.EACCES)
                {
                    denied = true;
                }
                else if (error != LibC.ENOENT && error != SpawnNative.ENOTDIR)
                {
                    return error;
                }
            }

            if (*end == 0)
            {
                return denied ? SpawnNative.EACCES : LibC.ENOENT;
            }

            start = end;
        }
    }

    private static void Reap(int pid, int pidFd, SpawnRequest request)
    {
        int status;
        int waited;
        do
        {
            waited = SpawnNative.WaitPid(pid, &status, SpawnNative.WNOHANG);
        }
        while (waited < 0 && LibC.LastError == SpawnNative.EINTR);

        if (waited == 0)
        {
            // Readable means exited; a wait that still finds it running is the leader gone ahead of its threads.
            waited = SpawnNative.WaitPid(pid, &status, 0);
        }

        _ = LibC.Close(pidFd);
        if (waited == pid)
        {
            request.Ended(status);
        }
        else
        {
            request.EndedUnknown(new InvalidOperationException(
                $"the exit status of process {pid} was taken by another waiter (errno {(waited < 0 ? LibC.LastError : 0)})"));
        }
    }

    private static bool Contains(byte* text, byte value)
    {
        for (; *text != 0; text++)
        {
            if (*text == value)
            {
                return true;
            }
        }

        return false;
    }

    private static int Length(byte* text)
    {
        var length = 0;
        while (text[length] != 0)
        {
            length++;
        }

        return length;
    }
}
