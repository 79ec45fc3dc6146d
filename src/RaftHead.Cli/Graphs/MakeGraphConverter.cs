using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace RaftHead.Cli.Graphs;

/// <summary>
/// A C project's build steps (the output of <c>make -n</c>, or a <c>compile_commands.json</c>) as a graph file.
/// Compiles become nodes taking the project's sources and headers (one shared input set) and leaving the object
/// file; archives (<c>ar</c>, with a following <c>ranlib</c> folded in) and links take the objects and libraries
/// other nodes make by reference. <c>cd dir &amp;&amp;</c> prefixes and make's "Entering directory" lines set each
/// step's working directory. Lines that are not build steps are counted by program; lines not understood are kept
/// with the reason, for the caller to report.
/// </summary>
internal sealed partial class MakeGraphConverter
{
    public const string SourcesSet = "sources";

    private static readonly HashSet<string> Ignorable = new(StringComparer.Ordinal) { "echo", "printf", "true", ":", "mkdir", "rm", "make", "gmake", "test", "[", "set", "exit", "touch" };

    private static readonly HashSet<string> SourceExtensions = new(StringComparer.Ordinal) { ".c", ".cc", ".cpp", ".cxx", ".c++", ".m", ".s", ".S" };

    private static readonly HashSet<string> TreeExtensions = new(StringComparer.Ordinal) { ".c", ".cc", ".cpp", ".cxx", ".c++", ".m", ".s", ".S", ".h", ".hh", ".hpp", ".hxx", ".inc", ".def", ".ipp", ".tcc" };

    /// <summary>Compiler options whose value is the next word.</summary>
    private static readonly HashSet<string> ValueOptions = new(StringComparer.Ordinal)
    {
        "-o", "-I", "-D", "-U", "-include", "-imacros", "-isystem", "-iquote", "-idirafter", "-MF", "-MT", "-MQ", "-x", "-L",
        "-Xlinker", "-Xpreprocessor", "-Xassembler", "-arch", "-isysroot", "--sysroot", "-target", "-T", "-u", "-z", "-e",
    };

    private readonly string _baseDirectory;
    private readonly string _projectDirectory;
    private readonly List<Step> _steps = [];
    private readonly Dictionary<string, (Step Step, string Output)> _producers = new(StringComparer.Ordinal);
    private readonly HashSet<string> _ids = new(StringComparer.Ordinal);
    private readonly List<string> _notUnderstood = [];
    private readonly SortedDictionary<string, int> _ignored = new(StringComparer.Ordinal);

    /// <summary>Directories compiles run in or take headers from: the source tree is what lies under them.</summary>
    private readonly SortedSet<string> _sourceRoots = new(StringComparer.Ordinal);

    /// <param name="baseDirectory">Where the graph file will be: its paths are relative to it.</param>
    /// <param name="projectDirectory">Where the build runs (make's starting directory), under or at the base directory.</param>
    public MakeGraphConverter(string baseDirectory, string projectDirectory)
    {
        _baseDirectory = Path.TrimEndingDirectorySeparator(Path.GetFullPath(baseDirectory));
        _projectDirectory = Path.TrimEndingDirectorySeparator(Path.GetFullPath(projectDirectory));
        if (Relative(_projectDirectory) is null)
        {
            throw new GraphFileException($"the graph file's directory {_baseDirectory} must contain the project {_projectDirectory}: its paths are relative to it");
        }
    }

    public int Compiles { get; private set; }

    public int Archives { get; private set; }

    public int Links { get; private set; }

    public int Copies { get; private set; }

    /// <summary>"where: text (reason)" for every line that looked like a command but could not be turned into a node.</summary>
    public IReadOnlyList<string> NotUnderstood => _notUnderstood;

    /// <summary>Lines skipped as not being build steps, by program (echo, printf, mkdir, make's own messages...).</summary>
    public IReadOnlyDictionary<string, int> Ignored => _ignored;

    public void AddMakeOutput(IEnumerable<string> lines)
    {
        var directories = new Stack<string>();
        var number = 0;
        string? pending = null;
        var pendingLine = 0;
        foreach (var raw in lines)
        {
            number++;
            if (pending is not null)
            {
                pending += "\n" + raw;
            }
            else
            {
                pending = raw;
                pendingLine = number;
            }

            // A backslash at the end continues the command on the next line.
            if (raw.EndsWith('\\') && !raw.EndsWith("\\\\", StringComparison.Ordinal))
            {
                pending = pending[..^1];
                continue;
            }

            var line = pending.Trim();
            pending = null;
            if (line.Length == 0)
            {
                continue;
            }

            if (MakeMessage().Match(line) is { Success: true } message)
            {
                var text = message.Groups[1].Value;
                if (Entering().Match(text) is { Success: true } entering)
                {
                    directories.Push(entering.Groups[1].Value);
                }
                else if (Leaving().IsMatch(text) && directories.Count > 0)
                {
                    directories.Pop();
                }
                else
                {
                    Count("make (its own messages)");
                }

                continue;
            }

            var cwd = directories.Count > 0 ? directories.Peek() : _projectDirectory;
            AddLine(line, cwd, string.Create(CultureInfo.InvariantCulture, $"line {pendingLine}"));
        }
    }

    /// <summary>Every entry of a compile_commands.json (its "arguments", or its "command" split as a shell would).</summary>
    public void AddCompileCommands(JsonDocument document)
    {
        if (document.RootElement.ValueKind != JsonValueKind.Array)
        {
            throw new GraphFileException("compile_commands.json is not an array of entries");
        }

        var index = 0;
        foreach (var entry in document.RootElement.EnumerateArray())
        {
            var where = string.Create(CultureInfo.InvariantCulture, $"entry {index++}");
            if (entry.ValueKind != JsonValueKind.Object || !entry.TryGetProperty("directory", out var directory) || directory.ValueKind != JsonValueKind.String)
            {
                _notUnderstood.Add($"{where}: no \"directory\"");
                continue;
            }

            var cwd = directory.GetString()!;
            if (entry.TryGetProperty("arguments", out var arguments) && arguments.ValueKind == JsonValueKind.Array)
            {
                var words = arguments.EnumerateArray().Select(a => ShellWords.Token.Word(a.GetString() ?? "")).ToList();
                AddCommand(words, cwd, where, string.Join(' ', words.Select(w => ShellWords.Quote(w.Text))));
            }
            else if (entry.TryGetProperty("command", out var command) && command.ValueKind == JsonValueKind.String)
            {
                AddLine(command.GetString()!, cwd, where);
            }
            else
            {
                _notUnderstood.Add($"{where}: neither \"arguments\" nor \"command\"");
            }
        }
    }

    /// <summary>The PATH every node runs with unless the make output set one.</summary>
    public const string ActionPath = "/usr/local/bin:/usr/bin:/bin";

    public GraphFile ToGraph()
    {
        var nodes = new List<GraphFileNode>(_steps.Count);
        var usesSources = false;
        foreach (var step in _steps)
        {
            var inputs = new List<GraphFileInput>();
            if (step.UsesSources)
            {
                usesSources = true;
                inputs.Add(new GraphFileInput { Text = "@" + SourcesSet });
            }

            inputs.AddRange(step.Inputs);
            var workdir = Relative(step.Directory)!;

            // Actions start with an empty environment; a compiler driver named without a path needs PATH to find
            // itself and its passes (cc1, as, ld). A fixed one keeps the graph, and its cache keys, machine-independent.
            var env = new Dictionary<string, string>(step.Env, StringComparer.Ordinal);
            env.TryAdd("PATH", ActionPath);
            nodes.Add(new GraphFileNode
            {
                Id = step.Id,
                Argv = step.Argv,
                Env = env,
                Inputs = inputs.Count > 0 ? inputs : null,
                Outputs = step.Outputs,
                Workdir = workdir.Length > 0 ? workdir : null,
            });
        }

        return new GraphFile
        {
            InputSets = usesSources ? new Dictionary<string, List<string>> { [SourcesSet] = SourceTree() } : null,
            Nodes = nodes,
        };
    }

    private void AddLine(string line, string cwd, string where)
    {
        var tokens = ShellWords.Split(line);
        if (tokens is null)
        {
            _notUnderstood.Add($"{where}: {line} (a quote is not closed)");
            return;
        }

        // Commands in order with the directory each runs in: `cd` changes it for what follows, a subshell's only inside.
        var commands = new List<(List<ShellWords.Token> Words, string Cwd)>();
        var subshells = new Stack<string>();
        string? joined = null;
        string? writes = null;
        var current = new List<ShellWords.Token>();
        void Flush()
        {
            if (current.Count == 2 && current[0].Text == "cd" && !current[1].Expands)
            {
                cwd = Path.GetFullPath(Path.Combine(cwd, current[1].Text));
            }
            else if (current.Count > 0)
            {
                commands.Add((current, cwd));
            }

            current = [];
        }

        foreach (var token in tokens)
        {
            switch (token.Type)
            {
                case ShellWords.Kind.Word:
                    current.Add(token);
                    break;
                case ShellWords.Kind.Redirect:
                    writes ??= token.WritesNothing ? null : token.Text;
                    break;
                default:
                    Flush();
                    if (token.Text == "(")
                    {
                        subshells.Push(cwd);
                    }
                    else if (token.Text == ")" && subshells.Count > 0)
                    {
                        cwd = subshells.Pop();
                    }
                    else if (token.Text is "||" or "|" or "&")
                    {
                        joined ??= token.Text;
                    }

                    break;
            }
        }

        Flush();
        var steps = commands.Count(c => !IsIgnorable(c.Words));
        if (writes is not null || (joined is not null && steps > 0))
        {
            // A file written by the shell, or a step whose running depends on another's outcome, is not one action.
            var reason = writes is not null ? $"writes {writes.TrimStart('0', '1', '2', '>', '<', '&')} through the shell" : $"joins commands with '{joined}'";
            _notUnderstood.Add($"{where}: {line} ({reason})");
            return;
        }

        foreach (var (words, directory) in commands)
        {
            if (!AddCommand(words, directory, where, line))
            {
                return;
            }
        }
    }

    private static bool IsIgnorable(List<ShellWords.Token> words)
    {
        var start = words.FindIndex(w => !EnvAssignment().IsMatch(w.Text));
        return start < 0 || Ignorable.Contains(Path.GetFileName(words[start].Text));
    }

    /// <returns>False when the rest of the line cannot be followed.</returns>
    private bool AddCommand(List<ShellWords.Token> words, string cwd, string where, string line)
    {
        var start = 0;
        while (start < words.Count && EnvAssignment().IsMatch(words[start].Text))
        {
            start++;
        }

        if (start == words.Count)
        {
            Count("variable assignment");
            return true;
        }

        var program = Path.GetFileName(words[start].Text);
        if (Ignorable.Contains(program))
        {
            Count(program);
            return true;
        }

        var kind = IsCompiler(program) ? "compiler" : IsArchiver(program) ? "ar" : IsRanlib(program) ? "ranlib" : program is "install" or "cp" ? "copy" : null;
        if (kind is null)
        {
            _notUnderstood.Add($"{where}: {line} ({program} is not a compiler, ar, ranlib, install or cp)");
            return false;
        }

        if (words.Any(w => w.Expands))
        {
            _notUnderstood.Add($"{where}: {line} (its meaning depends on shell expansion)");
            return false;
        }

        if (Relative(cwd) is null)
        {
            _notUnderstood.Add($"{where}: {line} (runs in {cwd}, outside {_baseDirectory})");
            return false;
        }

        var env = words.Take(start).Select(w => w.Text).ToList();
        var argv = words.Skip(start).Select(w => Relativize(w.Text, cwd)).ToList();
        var problem = kind switch
        {
            "compiler" => Compiler(argv, env, cwd),
            "ar" => Archive(argv, env, cwd),
            "copy" => Copy(argv, env, cwd),
            _ => Ranlib(argv, cwd),
        };
        if (problem is not null)
        {
            _notUnderstood.Add($"{where}: {line} ({problem})");
            return false;
        }

        return true;
    }

    private string? Compiler(List<string> argv, List<string> env, string cwd)
    {
        var compileOnly = false;
        string? output = null;
        var positional = new List<string>();
        var libraryDirectories = new List<string>();
        var libraries = new List<string>();
        var includes = new List<string>();
        for (var i = 1; i < argv.Count; i++)
        {
            var word = argv[i];
            if (word is "-E" or "-S" or "-M" or "-MM" or "-fsyntax-only")
            {
                return $"'{word}' makes no object file";
            }

            if (word == "-c")
            {
                compileOnly = true;
            }
            else if (ValueOptions.Contains(word))
            {
                if (++i >= argv.Count)
                {
                    return $"'{word}' has no value";
                }

                if (word == "-o")
                {
                    output = argv[i];
                }
                else if (word == "-L")
                {
                    libraryDirectories.Add(argv[i]);
                }
                else if (word is "-I" or "-iquote" or "-isystem" or "-idirafter")
                {
                    includes.Add(argv[i]);
                }
            }
            else if (word.StartsWith("-o", StringComparison.Ordinal) && word.Length > 2)
            {
                output = word[2..];
            }
            else if (word.StartsWith("-I", StringComparison.Ordinal) && word.Length > 2)
            {
                includes.Add(word[2..]);
            }
            else if (word.StartsWith("-L", StringComparison.Ordinal) && word.Length > 2)
            {
                libraryDirectories.Add(word[2..]);
            }
            else if (word.StartsWith("-l", StringComparison.Ordinal) && word.Length > 2)
            {
                libraries.Add(word[2..]);
            }
            else if (!word.StartsWith('-'))
            {
                positional.Add(word);
            }
        }

        if (compileOnly)
        {
            var sources = positional.Where(p => SourceExtensions.Contains(Path.GetExtension(p))).ToList();
            if (sources.Count == 0)
            {
                return "a compile without a source file";
            }

            if (output is not null && sources.Count > 1)
            {
                return "-o with several sources";
            }

            var outputs = output is not null ? [output] : sources.Select(s => Path.ChangeExtension(Path.GetFileName(s), ".o")).ToList();
            var step = NewStep(outputs, argv, env, cwd);
            if (step is null)
            {
                return "an output outside its working directory";
            }

            step.UsesSources = true;
            _sourceRoots.Add(cwd);
            foreach (var include in includes)
            {
                _sourceRoots.Add(Path.GetFullPath(Path.Combine(cwd, include)));
            }

            foreach (var source in sources)
            {
                // A generated source comes from its producer; the others are in the source tree.
                TakeIfProduced(step, source, cwd);
            }

            Register(step);
            Compiles++;
            return null;
        }

        var linked = NewStep([output ?? "a.out"], argv, env, cwd);
        if (linked is null)
        {
            return "an output outside its working directory";
        }

        foreach (var input in positional)
        {
            if (!TakeIfProduced(linked, input, cwd) && !TakeLocal(linked, input, cwd) && SourceExtensions.Contains(Path.GetExtension(input)))
            {
                return $"source {input} is missing";
            }

            linked.UsesSources |= SourceExtensions.Contains(Path.GetExtension(input));
        }

        foreach (var library in libraries)
        {
            // -lfoo is the first libfoo.a some -L directory has (a library made by this build), else a system library.
            foreach (var directory in libraryDirectories)
            {
                if (TakeIfProduced(linked, Path.Combine(directory, $"lib{library}.a"), cwd) || TakeIfProduced(linked, Path.Combine(directory, $"lib{library}.so"), cwd))
                {
                    break;
                }
            }
        }

        Register(linked);
        Links++;
        return null;
    }

    private string? Archive(List<string> argv, List<string> env, string cwd)
    {
        if (argv.Count < 3)
        {
            return "ar without an archive";
        }

        var operation = argv[1].TrimStart('-');
        if (!operation.Contains('r', StringComparison.Ordinal) && !operation.Contains('q', StringComparison.Ordinal))
        {
            return $"ar {argv[1]} does not add to an archive";
        }

        var archive = argv[2];
        var step = NewStep([archive], argv, env, cwd);
        if (step is null)
        {
            return "an output outside its working directory";
        }

        step.IsArchive = true;
        // ar adds to an archive an earlier step made, so that one is an input too.
        TakeIfProduced(step, archive, cwd);
        foreach (var member in argv.Skip(3))
        {
            if (!TakeIfProduced(step, member, cwd) && !TakeLocal(step, member, cwd))
            {
                return $"member {member} is neither made by an earlier step nor in the project";
            }
        }

        Register(step);
        Archives++;
        return null;
    }

    /// <summary><c>install [-m MODE] FROM TO</c> or <c>cp FROM TO</c>: one file copied to a named file.</summary>
    private string? Copy(List<string> argv, List<string> env, string cwd)
    {
        var positional = new List<string>();
        for (var i = 1; i < argv.Count; i++)
        {
            if (argv[i] is "-m" or "-o" or "-g" or "--mode")
            {
                i++;
            }
            else if (argv[i] is "-t" or "-d" or "-D" or "-r" or "-R" or "--target-directory")
            {
                return $"{argv[0]} {argv[i]} is not one file copied to another";
            }
            else if (!argv[i].StartsWith('-'))
            {
                positional.Add(argv[i]);
            }
        }

        if (positional.Count != 2 || positional[1].EndsWith('/') || Directory.Exists(Path.Combine(cwd, positional[1])))
        {
            return "not one file copied to a named file";
        }

        var step = NewStep([positional[1]], argv, env, cwd);
        if (step is null)
        {
            return "an output outside its working directory";
        }

        if (!TakeIfProduced(step, positional[0], cwd) && !TakeLocal(step, positional[0], cwd))
        {
            return $"{positional[0]} is neither made by an earlier step nor in the project";
        }

        Register(step);
        Copies++;
        return null;
    }

    private string? Ranlib(List<string> argv, string cwd)
    {
        if (argv.Count != 2 || Key(argv[1], cwd) is not { } key || !_producers.TryGetValue(key, out var producer) || !producer.Step.IsArchive)
        {
            return "ranlib of an archive no earlier ar step made";
        }

        // ranlib changes the archive in place: it runs in the archive's own node, after ar.
        var step = producer.Step;
        var first = step.Ranlibs > 0 ? step.Argv[2] : string.Join(' ', step.Argv.Select(ShellWords.Quote));
        var ranlib = step.Directory == cwd
            ? string.Join(' ', argv.Select(ShellWords.Quote))
            : $"(cd {ShellWords.Quote(Path.GetRelativePath(step.Directory, cwd))} && {string.Join(' ', argv.Select(ShellWords.Quote))})";
        step.Argv = ["sh", "-c", $"{first} && {ranlib}"];
        step.Ranlibs++;
        return null;
    }

    private Step? NewStep(List<string> outputs, List<string> argv, List<string> env, string cwd)
    {
        var keys = new List<string>();
        foreach (var output in outputs)
        {
            if (Path.IsPathRooted(output) || output.Split('/').Contains("..") || Key(output, cwd) is not { } key)
            {
                return null;
            }

            keys.Add(key);
        }

        var id = NodeId(keys[0]);
        if (!_ids.Add(id))
        {
            var n = 2;
            while (!_ids.Add($"{id}-{n.ToString(CultureInfo.InvariantCulture)}"))
            {
                n++;
            }

            id = $"{id}-{n.ToString(CultureInfo.InvariantCulture)}";
        }

        var step = new Step(id, cwd, argv, outputs, keys);
        foreach (var assignment in env)
        {
            var equals = assignment.IndexOf('=', StringComparison.Ordinal);
            step.Env[assignment[..equals]] = assignment[(equals + 1)..];
        }

        return step;
    }

    private void Register(Step step)
    {
        _steps.Add(step);
        for (var i = 0; i < step.Outputs.Count; i++)
        {
            _producers[step.Keys[i]] = (step, step.Outputs[i]);
        }
    }

    /// <summary>Adds a reference to the node that makes <paramref name="path"/>, if one does.</summary>
    private bool TakeIfProduced(Step step, string path, string cwd)
    {
        if (Key(path, cwd) is not { } key || !_producers.TryGetValue(key, out var producer) || producer.Step == step)
        {
            return false;
        }

        if (step.Inputs.Any(i => (i.From == producer.Step.Id && i.Output == producer.Output) || i.Text == $"{producer.Step.Id}:{producer.Output}"))
        {
            return true;
        }

        // Where the output lands by default (the producer's directory joined with it) is where this step looks for it
        // whenever the producer wrote it plainly; the object form says where otherwise.
        var landsAt = Relative(Path.GetFullPath(Path.Combine(producer.Step.Directory, producer.Output)));
        var plain = string.Equals(Path.Join(Relative(producer.Step.Directory), producer.Output), key, StringComparison.Ordinal);
        step.Inputs.Add(plain && landsAt == key
            ? new GraphFileInput { Text = $"{producer.Step.Id}:{producer.Output}" }
            : new GraphFileInput { From = producer.Step.Id, Output = producer.Output, Path = key });
        return true;
    }

    /// <summary>Adds <paramref name="path"/> as a local input if it is a file of the project.</summary>
    private bool TakeLocal(Step step, string path, string cwd)
    {
        if (Key(path, cwd) is not { } key || !File.Exists(Path.Combine(_baseDirectory, key)))
        {
            return false;
        }

        if (!step.Inputs.Any(i => i.Text == key))
        {
            step.Inputs.Add(new GraphFileInput { Text = key });
        }

        return true;
    }

    /// <summary>
    /// The project's sources and headers under the directories compiles run in or include from (so a bundled library
    /// the build does not use stays out), relative to the base directory, outputs of steps aside.
    /// </summary>
    private List<string> SourceTree()
    {
        var files = new List<string>();
        var pending = new Stack<DirectoryInfo>();
        string? previous = null;
        foreach (var root in _sourceRoots)
        {
            // Sorted, so a directory under one already taken comes right after it.
            if (previous is not null && root.StartsWith(previous + "/", StringComparison.Ordinal))
            {
                continue;
            }

            if (Relative(root) is not null && Directory.Exists(root))
            {
                pending.Push(new DirectoryInfo(root));
                previous = root;
            }
        }

        while (pending.Count > 0)
        {
            foreach (var entry in pending.Pop().EnumerateFileSystemInfos())
            {
                if (entry.Name.StartsWith('.'))
                {
                    continue;
                }

                if (entry is DirectoryInfo directory && directory.LinkTarget is null)
                {
                    pending.Push(directory);
                }
                else if (entry is FileInfo && TreeExtensions.Contains(entry.Extension) && Relative(entry.FullName) is { } key && !_producers.ContainsKey(key))
                {
                    files.Add(key);
                }
            }
        }

        files.Sort(StringComparer.Ordinal);
        return files;
    }

    /// <summary>A path the command names, as a path relative to the base directory; null when it is outside.</summary>
    private string? Key(string path, string cwd) => Relative(Path.GetFullPath(Path.Combine(cwd, path)));

    private string? Relative(string full)
    {
        var relative = Path.GetRelativePath(_baseDirectory, full);
        if (relative == ".")
        {
            return "";
        }

        return relative.StartsWith("..", StringComparison.Ordinal) || Path.IsPathRooted(relative) ? null : relative;
    }

    /// <summary>An absolute path into the project, alone or after -I, -L or -o, rewritten relative to the step's directory (the input root is elsewhere on a worker).</summary>
    private string Relativize(string word, string cwd)
    {
        foreach (var prefix in (ReadOnlySpan<string>)["-I", "-L", "-o", ""])
        {
            if (word.StartsWith(prefix + "/", StringComparison.Ordinal) && Relative(word[prefix.Length..]) is not null)
            {
                var relative = Path.GetRelativePath(cwd, word[prefix.Length..]);
                return prefix + relative;
            }
        }

        return word;
    }

    private static string NodeId(string key)
    {
        var chars = key.Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' or '+' or '/' ? c : '_').ToArray();
        var id = new string(chars);
        return id.Length > GraphFileLoader.NodeIdLengthMax ? id[^GraphFileLoader.NodeIdLengthMax..] : id;
    }

    private void Count(string what) => _ignored[what] = _ignored.GetValueOrDefault(what) + 1;

    private static bool IsCompiler(string program) => CompilerName().IsMatch(program);

    private static bool IsArchiver(string program) => program == "ar" || program.EndsWith("-ar", StringComparison.Ordinal);

    private static bool IsRanlib(string program) => program == "ranlib" || program.EndsWith("-ranlib", StringComparison.Ordinal);

    [GeneratedRegex(@"^(?:.*-)?(?:cc|gcc|clang|c\+\+|g\+\+|clang\+\+)(?:-[0-9.]+)?$")]
    private static partial Regex CompilerName();

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_]*=")]
    private static partial Regex EnvAssignment();

    [GeneratedRegex(@"^g?make(?:\[\d+\])?: (.*)$")]
    private static partial Regex MakeMessage();

    [GeneratedRegex(@"^Entering directory [`'](.*)'$")]
    private static partial Regex Entering();

    [GeneratedRegex(@"^Leaving directory [`'](.*)'$")]
    private static partial Regex Leaving();

    /// <summary>A node being made.</summary>
    private sealed class Step(string id, string directory, List<string> argv, List<string> outputs, List<string> keys)
    {
        public string Id { get; } = id;

        public string Directory { get; } = directory;

        public List<string> Argv { get; set; } = argv;

        public List<string> Outputs { get; } = outputs;

        /// <summary>The outputs relative to the base directory.</summary>
        public List<string> Keys { get; } = keys;

        public List<GraphFileInput> Inputs { get; } = [];

        public bool UsesSources { get; set; }

        public bool IsArchive { get; set; }

        /// <summary>ranlib commands folded into this archive's command.</summary>
        public int Ranlibs { get; set; }

        public Dictionary<string, string> Env { get; } = new(StringComparer.Ordinal);
    }
}
