using System.Xml.Linq;

namespace RaftHead.IntegrationTests;

/// <summary>
/// The project graph of the design (DESIGN §2): arrows point down the table only. A reference up or sideways, a new
/// project nobody placed, or ASP.NET Core below the head fails here, by name, before it becomes a habit.
/// </summary>
public sealed class ProjectGraphTests
{
    /// <summary>Each source project and the projects it may reference directly.</summary>
    private static readonly Dictionary<string, string[]> Allowed = new(StringComparer.Ordinal)
    {
        ["RaftHead.Protocol"] = [],
        ["RaftHead.Durability"] = [],
        ["RaftHead.Consensus"] = ["RaftHead.Protocol", "RaftHead.Durability"],
        ["RaftHead.Storage"] = ["RaftHead.Protocol", "RaftHead.Durability"],
        ["RaftHead.Head"] = ["RaftHead.Protocol", "RaftHead.Durability", "RaftHead.Consensus", "RaftHead.Storage"],
        // Head and Worker meet only through the worker protocol; neither references the other.
        ["RaftHead.Worker"] = ["RaftHead.Protocol", "RaftHead.Durability", "RaftHead.Storage"],
        ["RaftHead.Cli"] = ["RaftHead.Protocol", "RaftHead.Durability", "RaftHead.Consensus", "RaftHead.Storage", "RaftHead.Head", "RaftHead.Worker"],
    };

    /// <summary>
    /// Only the processes that serve host a web server: the head, the worker (its CAS is read by peers) and the
    /// composition root; the libraries below them stay free of it.
    /// </summary>
    private static readonly HashSet<string> MayUseAspNetCore = new(StringComparer.Ordinal) { "RaftHead.Head", "RaftHead.Worker", "RaftHead.Cli" };

    [Fact]
    public void Every_source_project_references_only_projects_below_it()
    {
        var problems = new List<string>();
        var projects = SourceProjects();
        Assert.NotEmpty(projects);
        foreach (var (name, path) in projects)
        {
            if (!Allowed.TryGetValue(name, out var allowed))
            {
                problems.Add($"{name} is not in the design's project table: place it there (and here) before using it");
                continue;
            }

            var document = XDocument.Load(path);
            foreach (var reference in document.Descendants("ProjectReference"))
            {
                var target = Path.GetFileNameWithoutExtension(reference.Attribute("Include")!.Value.Replace('\\', '/'));
                if (!allowed.Contains(target, StringComparer.Ordinal))
                {
                    problems.Add($"{name} references {target}, which is not below it");
                }
            }

            foreach (var framework in document.Descendants("FrameworkReference"))
            {
                if (framework.Attribute("Include")?.Value == "Microsoft.AspNetCore.App" && !MayUseAspNetCore.Contains(name))
                {
                    problems.Add($"{name} references ASP.NET Core; only the head, the worker and the CLI host servers");
                }
            }
        }

        Assert.True(problems.Count == 0, string.Join(Environment.NewLine, problems));
    }

    [Fact]
    public void The_table_names_only_projects_that_exist()
    {
        var existing = SourceProjects().Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var name in Allowed.Keys)
        {
            Assert.True(existing.Contains(name), $"{name} is in the table but src/ has no such project");
        }
    }

    private static List<(string Name, string Path)> SourceProjects()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "RaftHead.sln")))
        {
            root = root.Parent;
        }

        Assert.True(root is not null, "RaftHead.sln not found above " + AppContext.BaseDirectory);
        return Directory.GetFiles(Path.Combine(root!.FullName, "src"), "*.csproj", SearchOption.AllDirectories)
            .Select(path => (Path.GetFileNameWithoutExtension(path), path))
            .OrderBy(p => p.Item1, StringComparer.Ordinal)
            .ToList();
    }
}
