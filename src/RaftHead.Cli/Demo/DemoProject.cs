using System.Reflection;
using RaftHead.Cli.Graphs;

namespace RaftHead.Cli.Demo;

/// <summary>
/// The small C project <c>rh demo</c> builds, carried inside rh: its sources (a static library made by a sub-make,
/// a compile through <c>cd</c>, a link), and what <c>make -n -B -w</c> prints for it with the project's directory
/// written <see cref="ProjectPlaceholder"/>, so neither make nor the sources need be on the machine. The graph comes
/// from that output through the converter of <c>rh graph from-make</c>.
/// </summary>
internal static class DemoProject
{
    public const string Name = "c-hello";

    /// <summary>The node that links the program, and the program's path among its outputs.</summary>
    public const string ProgramNode = "hello";

    public const string ProgramOutput = "hello";

    /// <summary>What the program prints when run without arguments.</summary>
    public const string ProgramGreeting = "HELLO, WORLD";

    public const string ProjectPlaceholder = "@PROJECT@";

    private const string SourcesPrefix = "demo/c-hello/";
    private const string MakeOutputResource = "demo/c-hello.make-n.txt";

    /// <summary>The programs the project's steps run, and the Debian/Ubuntu package that brings each.</summary>
    private static readonly (string Program, string Package)[] Tools = [("cc", "gcc"), ("ar", "binutils"), ("ranlib", "binutils")];

    private static Assembly Assembly => typeof(DemoProject).Assembly;

    /// <summary>Writes the sources into <paramref name="directory"/>/c-hello and returns that directory.</summary>
    public static async Task<string> ExtractAsync(string directory, CancellationToken cancellationToken)
    {
        var project = Path.Combine(directory, Name);
        var written = 0;
        foreach (var resource in Assembly.GetManifestResourceNames())
        {
            if (!resource.StartsWith(SourcesPrefix, StringComparison.Ordinal))
            {
                continue;
            }

            var target = Path.Combine(project, resource[SourcesPrefix.Length..]);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            await using var source = Assembly.GetManifestResourceStream(resource)!;
            await using var file = File.Create(target);
            await source.CopyToAsync(file, cancellationToken).ConfigureAwait(false);
            written++;
        }

        if (written == 0)
        {
            throw new InvalidOperationException($"this rh carries no demo project (no resources under {SourcesPrefix})");
        }

        return project;
    }

    /// <summary>make's dry run of a clean build of the project as if it lay in <paramref name="projectDirectory"/>.</summary>
    public static string[] MakeOutput(string projectDirectory)
    {
        using var stream = Assembly.GetManifestResourceStream(MakeOutputResource)
            ?? throw new InvalidOperationException($"this rh carries no {MakeOutputResource}");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd().Replace(ProjectPlaceholder, Path.TrimEndingDirectorySeparator(projectDirectory), StringComparison.Ordinal).ReplaceLineEndings("\n").Split('\n');
    }

    /// <summary>The project's build as a checked graph, as <c>rh graph from-make</c> and <c>rh submit</c> would make it.</summary>
    public static ResolvedGraph Graph(string projectDirectory)
    {
        var converter = new MakeGraphConverter(projectDirectory, projectDirectory);
        converter.AddMakeOutput(MakeOutput(projectDirectory));
        if (converter.NotUnderstood.Count > 0)
        {
            throw new InvalidOperationException($"the demo's stored make output has lines the converter does not understand: {string.Join("; ", converter.NotUnderstood)}");
        }

        return GraphFileLoader.Resolve(Name, projectDirectory, converter.ToGraph());
    }

    /// <summary>
    /// Why the workers could not build the project here, or null: a program its steps run is not on the PATH they run
    /// with (<see cref="MakeGraphConverter.ActionPath"/>, unless another is given).
    /// </summary>
    public static string? MissingTool(string path = MakeGraphConverter.ActionPath)
    {
        var directories = path.Split(':', StringSplitOptions.RemoveEmptyEntries);
        foreach (var (program, package) in Tools)
        {
            if (!directories.Any(d => IsExecutable(Path.Combine(d, program))))
            {
                return $"the demo builds C, but there is no {program} in {path}: install the {package} package (apt-get install {package})";
            }
        }

        return null;
    }

    private static bool IsExecutable(string path) =>
        File.Exists(path) && (File.GetUnixFileMode(path) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0;
}
