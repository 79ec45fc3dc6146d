using Build.Bazel.Remote.Execution.V2;
using Google.Protobuf;
using RaftHead.Protocol;
using RaftHead.Storage;
using ReapiDirectory = Build.Bazel.Remote.Execution.V2.Directory;

namespace RaftHead.Worker.Tests;

/// <summary>Builds an input root from paths, uploads every blob of it, and returns its digest.</summary>
public sealed class InputTree
{
    private readonly SortedDictionary<string, (byte[] Data, bool Executable)> _files = new(StringComparer.Ordinal);
    private readonly SortedDictionary<string, string> _symlinks = new(StringComparer.Ordinal);

    public InputTree File(string path, string text, bool executable = false)
    {
        _files[path] = (System.Text.Encoding.UTF8.GetBytes(text), executable);
        return this;
    }

    public InputTree Symlink(string path, string target)
    {
        _symlinks[path] = target;
        return this;
    }

    public async Task<Digest> UploadAsync(IBlobStore store, string instance = "")
    {
        var root = Build("", out var blobs);
        foreach (var (digest, data) in blobs)
        {
            await store.PutAsync(instance, digest, data, CancellationToken.None);
        }

        return root;
    }

    /// <summary>The Directory blobs only, without uploading file contents (to make inputs go missing).</summary>
    public Digest Build(string prefix, out List<(Digest Digest, byte[] Data)> blobs)
    {
        blobs = new List<(Digest, byte[])>();
        return BuildDirectory(prefix, blobs);
    }

    private Digest BuildDirectory(string prefix, List<(Digest, byte[])> blobs)
    {
        var directory = new ReapiDirectory();
        var children = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var (path, (data, executable)) in _files)
        {
            if (Child(path, prefix) is not { } rest)
            {
                continue;
            }

            if (rest.Contains('/'))
            {
                children.Add(rest[..rest.IndexOf('/')]);
            }
            else
            {
                var digest = Digests.Compute(data);
                blobs.Add((digest, data));
                directory.Files.Add(new FileNode { Name = rest, Digest = digest, IsExecutable = executable });
            }
        }

        foreach (var (path, target) in _symlinks)
        {
            if (Child(path, prefix) is not { } rest)
            {
                continue;
            }

            if (rest.Contains('/'))
            {
                children.Add(rest[..rest.IndexOf('/')]);
            }
            else
            {
                directory.Symlinks.Add(new SymlinkNode { Name = rest, Target = target });
            }
        }

        foreach (var child in children)
        {
            directory.Directories.Add(new DirectoryNode { Name = child, Digest = BuildDirectory(prefix + child + "/", blobs) });
        }

        var bytes = directory.ToByteArray();
        var own = Digests.Compute(bytes);
        blobs.Add((own, bytes));
        return own;
    }

    private static string? Child(string path, string prefix) => path.StartsWith(prefix, StringComparison.Ordinal) ? path[prefix.Length..] : null;
}
