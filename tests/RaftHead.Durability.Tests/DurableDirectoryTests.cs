using RaftHead.Testing;

namespace RaftHead.Durability.Tests;

public sealed class DurableDirectoryTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Syncing_an_existing_directory_succeeds()
    {
        DurableDirectory.Sync(_dir.Path);
    }

    [Fact]
    public void Syncing_a_directory_that_does_not_exist_throws_naming_it()
    {
        string missing = _dir.Combine("not-there");
        var error = Assert.Throws<IOException>(() => DurableDirectory.Sync(missing));
        Assert.Contains(missing, error.Message, StringComparison.Ordinal);
        Assert.Contains("errno 2", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Create_makes_every_missing_level_and_reports_whether_it_did()
    {
        string deep = Path.Combine(_dir.Path, "a", "b", "c");
        Assert.True(DurableDirectory.Create(deep));
        Assert.True(Directory.Exists(deep));
        Assert.False(DurableDirectory.Create(deep));
        Assert.False(DurableDirectory.Create(deep + "/"));
    }

    [Fact]
    public void Create_under_a_file_throws()
    {
        string file = _dir.Combine("file");
        File.WriteAllText(file, "x");
        Assert.ThrowsAny<IOException>(() => DurableDirectory.Create(Path.Combine(file, "child")));
    }
}
