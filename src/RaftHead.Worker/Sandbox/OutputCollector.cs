using Build.Bazel.Remote.Execution.V2;
using ReapiDirectory = Build.Bazel.Remote.Execution.V2.Directory;

namespace RaftHead.Worker.Sandbox;

/// <summary>
/// Turns what an action left at its declared output paths into ActionResult entries, uploading files and
/// directory trees. Nothing is followed: a symlink is reported as a symlink, and a path whose parent is a
/// symlink is refused, so no output can read from outside the sandbox.
/// </summary>
public sealed class OutputCollector
{
    private readonly BlobUploader _uploader;
    private readonly string _execRoot;

    public OutputCollector(BlobUploader uploader, string execRoot)
    {
        _uploader = uploader;
        _execRoot = execRoot;
    }

    /// <summary>Collects outputs named relative to the working directory (itself relative to the exec root).</summary>
    public async Task CollectAsync(Command command, string workingDirectory, ActionResult result, CancellationToken cancellationToken)
    {
        var usesOutputPaths = command.OutputPaths.Count > 0;
        var paths = usesOutputPaths ? command.OutputPaths : (IEnumerable<string>)command.OutputFiles.Concat(command.OutputDirectories);
        var declaredDirectories = new HashSet<string>(command.OutputDirectories, StringComparer.Ordinal);
        foreach (var path in paths)
        {
            var full = ResolveOutput(workingDirectory, path);
            var info = new FileInfo(full);
            if (!info.Exists && !System.IO.Directory.Exists(full) && info.LinkTarget is null)
            {
                continue; // Declared outputs an action did not produce are simply absent.
            }

            var attributes = File.GetAttributes(full);
            if ((attributes & FileAttributes.ReparsePoint) != 0)
            {
                var target = new FileInfo(full).LinkTarget ?? "";
                CheckSymlink(path, target);
                var symlink = new OutputSymlink { Path = path, Target = target };
                if (usesOutputPaths)
                {
                    result.OutputSymlinks.Add(symlink);
                }
                else if (declaredDirectories.Contains(path))
                {
                    result.OutputDirectorySymlinks.Add(symlink);
                }
                else
                {
                    result.OutputFileSymlinks.Add(symlink);
                }
            }
            else if ((attributes & FileAttributes.Directory) != 0)
            {
                var tree = new Tree();
                tree.Root = await BuildDirectoryAsync(full, path, tree, cancellationToken).ConfigureAwait(false);
                var treeDigest = await _uploader.UploadMessageAsync(tree, cancellationToken).ConfigureAwait(false);
                result.OutputDirectories.Add(new OutputDirectory { Path = path, TreeDigest = treeDigest });
            }
            else
            {
                result.OutputFiles.Add(new OutputFile
                {
                    Path = path,
                    Digest = await _uploader.UploadFileAsync(full, cancellationToken).ConfigureAwait(false),
                    IsExecutable = IsExecutable(full),
                });
            }
        }
    }

    /// <summary>The exec-root-relative location of an output, refusing any that climbs out or passes through a symlink.</summary>
    public string ResolveOutput(string workingDirectory, string path)
    {
        var relative = workingDirectory.Length == 0 ? path : workingDirectory + "/" + path;
        var full = SandboxPath.Resolve(_execRoot, relative)
            ?? throw new OutputEscapeException($"output path '{path}' leaves the action's directory");
        if (full == _execRoot)
        {
            throw new OutputEscapeException($"output path '{path}' names the working directory itself");
        }

        // Every directory on the way must be a real directory: a symlinked parent would make the output resolve elsewhere.
        var current = _execRoot;
        var parts = Path.GetRelativePath(_execRoot, full).Split(Path.DirectorySeparatorChar);
        for (var i = 0; i < parts.Length - 1; i++)
        {
            current = Path.Combine(current, parts[i]);
            if (new DirectoryInfo(current).LinkTarget is not null)
            {
                throw new OutputEscapeException($"output path '{path}' passes through symlink '{Path.GetRelativePath(_execRoot, current)}'");
            }
        }

        return full;
    }

    private static void CheckSymlink(string path, string target)
    {
        if (!SandboxPath.SymlinkStaysInside(path, target))
        {
            throw new OutputEscapeException($"output symlink '{path}' -> '{target}' points outside the action's directory");
        }
    }

    private async Task<ReapiDirectory> BuildDirectoryAsync(string full, string relative, Tree tree, CancellationToken cancellationToken)
    {
        var directory = new ReapiDirectory();
        var entries = new DirectoryInfo(full).GetFileSystemInfos();
        Array.Sort(entries, static (a, b) => string.CompareOrdinal(a.Name, b.Name));
        foreach (var entry in entries)
        {
            var entryRelative = relative + "/" + entry.Name;
            if (entry.LinkTarget is { } target)
            {
                CheckSymlink(entryRelative, target);
                directory.Symlinks.Add(new SymlinkNode { Name = entry.Name, Target = target });
            }
            else if (entry is DirectoryInfo)
            {
                var child = await BuildDirectoryAsync(entry.FullName, entryRelative, tree, cancellationToken).ConfigureAwait(false);
                tree.Children.Add(child);
                directory.Directories.Add(new DirectoryNode
                {
                    Name = entry.Name,
                    Digest = RaftHead.Protocol.Digests.ComputeOf(child),
                });
            }
            else
            {
                directory.Files.Add(new FileNode
                {
                    Name = entry.Name,
                    Digest = await _uploader.UploadFileAsync(entry.FullName, cancellationToken).ConfigureAwait(false),
                    IsExecutable = IsExecutable(entry.FullName),
                });
            }
        }

        return directory;
    }

    private static bool IsExecutable(string path) => (File.GetUnixFileMode(path) & UnixFileMode.UserExecute) != 0;
}
