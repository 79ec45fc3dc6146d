using System.Buffers.Binary;
using System.Diagnostics;
using Build.Bazel.Remote.Execution.V2;
using Google.Protobuf;
using RaftHead.Bench.Storage;
using RaftHead.Storage;
using RaftHead.Storage.Merkle;
using RaftHead.Worker.Sandbox;
using ReapiDirectory = Build.Bazel.Remote.Execution.V2.Directory;

namespace RaftHead.Bench.Execution;

/// <summary>
/// Input materialisation of one large tree (default 100 directories × 100 small files, every tenth executable) from
/// a warm <see cref="FileCache"/>: the real <see cref="InputMaterializer"/> linking, against the same materializer
/// copying every file because its cache sits on another file system (link() fails with EXDEV and it falls back to
/// <c>File.Copy</c> + mode, its own cross-device path); rounds alternating, into fresh directories; then each system
/// call of the per-file work timed serially on its own.
/// </summary>
internal sealed class MaterializePhase
{
    public const string Links = "hard links: InputMaterializer.MaterializeAsync";
    public const string Copies = "copies: InputMaterializer.MaterializeAsync, cache on another file system";
    private const int FileBytesMin = 256;
    private const int FileBytesMax = 8192;
    private const int Writers = 32;

    private readonly ExecOptions _options;
    private readonly TextWriter _progress;

    public MaterializePhase(ExecOptions options, TextWriter progress)
    {
        _options = options;
        _progress = progress;
    }

    public async Task<ExecResults> RunAsync(ExecResults results, CancellationToken cancellationToken)
    {
        using var dir = new TempDirectory(_options.TempRoot, "exec-materialize");
        ExecutePhase.Traversable(dir.Path);
        var store = await FasterBlobStore.OpenAsync(new FasterBlobStoreOptions { DataDirectory = Path.Combine(dir.Path, "cas"), CheckpointIntervalMs = 0 }, cancellationToken).ConfigureAwait(false);
        await using var closeStore = store.ConfigureAwait(false);

        var clock = Stopwatch.StartNew();
        var (root, bytes, executables, files) = await UploadTreeAsync(store, cancellationToken).ConfigureAwait(false);
        var uploadSeconds = clock.Elapsed.TotalSeconds;
        _progress.WriteLine($"materialize: {files:N0} files ({bytes / 1e6:0.0} MB, {executables:N0} executable) in {_options.Directories} directories stored in {uploadSeconds:0.0} s");

        var work = Path.Combine(dir.Path, "work");
        var sandboxes = Path.Combine(work, "sandboxes");
        System.IO.Directory.CreateDirectory(sandboxes);
        ExecutePhase.Traversable(work);
        var cache = new FileCache(Path.Combine(work, "cache"));
        var materializer = new InputMaterializer(store, cache);
        using var copyDir = new TempDirectory(_options.CopyCacheRoot, "exec-copy-cache");
        ExecutePhase.Traversable(copyDir.Path);
        var copier = new InputMaterializer(store, new FileCache(Path.Combine(copyDir.Path, "cache")));
        var owner = Posix.GetEffectiveUserId() == 0 ? UnixUser.Find(_options.RunAsUser) : null;

        // Cold: the first materialisation fills the file cache from the CAS.
        var cold = await TimeAsync(Links, 0, files, Path.Combine(sandboxes, "cold"), t => LinkAsync(materializer, root, t, owner, files, cancellationToken)).ConfigureAwait(false);
        _progress.WriteLine(FormattableString.Invariant($"materialize: cold file cache: {cold.Seconds * 1e3:0} ms"));
        await TimeAsync(Copies, 0, files, Path.Combine(sandboxes, "warmup"), t => LinkAsync(copier, root, t, owner, files, cancellationToken)).ConfigureAwait(false);

        var rounds = new List<MaterializeRound>();
        for (var r = 1; r <= _options.MaterializeRounds; r++)
        {
            // The order rotates from round to round, so no method always runs right after another's tree was deleted.
            var target = Path.Combine(sandboxes, $"r{r}");
            var methods = new[] { Links, Copies };
            for (var m = 0; m < methods.Length; m++)
            {
                var round = await (methods[(m + r - 1) % methods.Length] switch
                {
                    Links => TimeAsync(Links, r, files, target + "-link", t => LinkAsync(materializer, root, t, owner, files, cancellationToken)),
                    _ => TimeAsync(Copies, r, files, target + "-copy", t => LinkAsync(copier, root, t, owner, files, cancellationToken)),
                }).ConfigureAwait(false);
                rounds.Add(Report(round));
            }
        }

        var steps = await TimeStepsAsync(store, cache, root, Path.Combine(sandboxes, "steps"), owner, cancellationToken).ConfigureAwait(false);
        foreach (var (step, seconds) in steps)
        {
            _progress.WriteLine(FormattableString.Invariant($"materialize: step {step}: {seconds * 1e3:0.0} ms"));
        }

        return results with
        {
            Materialize = rounds,
            MaterializeSteps = steps,
            TreeBytes = bytes,
            TreeExecutables = executables,
            TreeUploadSeconds = uploadSeconds,
            ColdMaterializeSeconds = cold.Seconds,
        };
    }

    private static async Task<(int Files, int Linked, int Copied)> LinkAsync(InputMaterializer materializer, Digest root, string target, UnixUser? owner, int files, CancellationToken cancellationToken)
    {
        var result = await materializer.MaterializeAsync(ExecutePhase.Instance, root, target, owner, cancellationToken).ConfigureAwait(false);
        if (!result.Succeeded || result.Files != files)
        {
            throw new InvalidOperationException($"Benchmark self-check failed: materialized {result.Files} of {files} files, {result.Missing.Count} missing, invalid: {result.Invalid}");
        }

        return (result.Files, result.Linked, result.Copied);
    }

    /// <summary>Times one materialisation into a fresh directory, then deletes it (not timed).</summary>
    private static async Task<MaterializeRound> TimeAsync(string method, int round, int files, string target, Func<string, Task<(int Files, int Linked, int Copied)>> run)
    {
        var before = Stopwatch.GetTimestamp();
        var (placed, linked, copied) = await run(target).ConfigureAwait(false);
        var seconds = Stopwatch.GetElapsedTime(before).TotalSeconds;
        System.IO.Directory.Delete(target, recursive: true);
        await SettleAsync().ConfigureAwait(false);
        if ((method == Links && linked != files) || (method == Copies && copied != files))
        {
            throw new InvalidOperationException($"Benchmark self-check failed: {method}: linked {linked} and copied {copied} of {files} files (the copy cache must be on another file system than --temp: see --copy-cache)");
        }

        return new MaterializeRound(method, round, placed, linked, copied, seconds);
    }

    /// <summary>
    /// Writes back what the round left (its files, the deletion of its tree: with ext4 mounted <c>discard</c>, a
    /// deletion's journal commit issues the trims), so the next round does not pay for this one. Bounded.
    /// </summary>
    private static async Task SettleAsync()
    {
        using var sync = Process.Start(new ProcessStartInfo("sync") { UseShellExecute = false });
        if (sync is not null)
        {
            using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(120));
            await sync.WaitForExitAsync(limit.Token).ConfigureAwait(false);
        }

        await Task.Delay(TimeSpan.FromMilliseconds(500)).ConfigureAwait(false);
    }

    /// <summary>
    /// The materializer's system calls over the whole tree, serially and alone: what a link and a copy cost by
    /// themselves, and what reading the Directory messages and making the directories cost around them.
    /// </summary>
    private static async Task<IReadOnlyList<(string Step, double Seconds)>> TimeStepsAsync(FasterBlobStore store, FileCache cache, Digest root, string target, UnixUser? owner, CancellationToken cancellationToken)
    {
        var steps = new List<(string, double)>();
        var clock = Stopwatch.StartNew();
        // The materializer's walk, one read at a time.
        var walker = new MerkleWalker(store, new MerkleWalkOptions { ConcurrencyMax = 1, DirectoryMaxBytes = long.MaxValue, Visit = MerkleVisitMode.EachPath });
        var collected = new DirectoryList();
        await walker.WalkAsync(ExecutePhase.Instance, root, collected, cancellationToken).ConfigureAwait(false);
        var directories = collected.Directories;
        steps.Add(($"read + parse + validate {directories.Count} Directory messages from the CAS", clock.Elapsed.TotalSeconds));

        var files = directories.SelectMany(d => d.Directory.Files.Select(f => (d.Relative, File: f))).ToArray();
        // A warm cache: the materializer links straight from the path the cache would hold, as here.
        var sources = files.Select(f => cache.PathFor(f.File.Digest, f.File.IsExecutable)).ToArray();
        var linkRoot = target + "-link";
        var copyRoot = target + "-copy";
        clock.Restart();
        foreach (var tree in new[] { linkRoot, copyRoot })
        {
            foreach (var (relative, _) in directories)
            {
                var path = relative.Length == 0 ? tree : Path.Combine(tree, relative);
                System.IO.Directory.CreateDirectory(path);
                if (owner is not null)
                {
                    Posix.LChown(path, owner.Uid, owner.Gid);
                }
            }
        }

        steps.Add(($"create + lchown {directories.Count} directories (per tree)", clock.Elapsed.TotalSeconds / 2));

        clock.Restart();
        for (var i = 0; i < files.Length; i++)
        {
            if (Posix.Link(sources[i], Path.Combine(linkRoot, files[i].Relative, files[i].File.Name)) != 0)
            {
                throw new InvalidOperationException("link failed");
            }
        }

        steps.Add(($"link() × {files.Length:N0}, serial", clock.Elapsed.TotalSeconds));
        await SettleAsync().ConfigureAwait(false);

        clock.Restart();
        for (var i = 0; i < files.Length; i++)
        {
            var path = Path.Combine(copyRoot, files[i].Relative, files[i].File.Name);
            File.Copy(sources[i], path);
            File.SetUnixFileMode(path, File.GetUnixFileMode(sources[i]));
        }

        steps.Add(($"File.Copy + GetUnixFileMode + SetUnixFileMode × {files.Length:N0}, serial", clock.Elapsed.TotalSeconds));
        System.IO.Directory.Delete(linkRoot, recursive: true);
        System.IO.Directory.Delete(copyRoot, recursive: true);
        return steps;
    }

    private async Task<(Digest Root, long Bytes, int Executables, int Files)> UploadTreeAsync(FasterBlobStore store, CancellationToken cancellationToken)
    {
        var blobs = new List<(Digest Digest, byte[] Data)>();
        var rootMessage = new ReapiDirectory();
        long bytes = 0;
        var executables = 0;
        var random = new Random(20261121);
        for (var d = 0; d < _options.Directories; d++)
        {
            var directory = new ReapiDirectory();
            for (var f = 0; f < _options.FilesPerDirectory; f++)
            {
                var index = (d * _options.FilesPerDirectory) + f;
                var data = new byte[random.Next(FileBytesMin, FileBytesMax + 1)];
                random.NextBytes(data);
                BinaryPrimitives.WriteInt64LittleEndian(data, index); // distinct even if the generator repeated
                var digest = BlobSet.DigestOf(data);
                var executable = index % 10 == 0;
                executables += executable ? 1 : 0;
                bytes += data.Length;
                blobs.Add((digest, data));
                directory.Files.Add(new FileNode { Name = $"f{f:D4}.c", Digest = digest, IsExecutable = executable });
            }

            var message = directory.ToByteArray();
            var directoryDigest = BlobSet.DigestOf(message);
            blobs.Add((directoryDigest, message));
            rootMessage.Directories.Add(new DirectoryNode { Name = $"d{d:D4}", Digest = directoryDigest });
        }

        var rootBytes = rootMessage.ToByteArray();
        var root = BlobSet.DigestOf(rootBytes);
        blobs.Add((root, rootBytes));

        long next = -1;
        var writers = Enumerable.Range(0, Writers).Select(_ => Task.Run(
            async () =>
            {
                long i;
                while ((i = Interlocked.Increment(ref next)) < blobs.Count)
                {
                    await store.PutAsync(ExecutePhase.Instance, blobs[(int)i].Digest, blobs[(int)i].Data, cancellationToken).ConfigureAwait(false);
                }
            },
            cancellationToken));
        await Task.WhenAll(writers).ConfigureAwait(false);
        return (root, bytes, executables, _options.Directories * _options.FilesPerDirectory);
    }

    private MaterializeRound Report(MaterializeRound round)
    {
        _progress.WriteLine(FormattableString.Invariant($"materialize: round {round.Round} {round.Method,-48}: {round.Seconds * 1e3,7:0.0} ms ({round.Files / round.Seconds,8:0} files/s)"));
        return round;
    }

    private sealed class DirectoryList : IMerkleVisitor
    {
        public List<(string Relative, ReapiDirectory Directory)> Directories { get; } = [];

        public void OnLevel(ReadOnlySpan<Digest> directories)
        {
        }

        public bool OnDirectory(Digest digest, ReapiDirectory directory, string? path)
        {
            Directories.Add((path!, directory));
            return true;
        }

        public void OnMissing(Digest digest, string? path) =>
            throw new UnreachableException("the walk stops at the first missing directory");
    }
}
