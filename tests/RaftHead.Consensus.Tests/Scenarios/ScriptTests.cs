using System.Runtime.CompilerServices;
using RaftHead.Consensus.Tests.Harness;

namespace RaftHead.Consensus.Tests.Scenarios;

/// <summary>Replays every script in Scenarios/Scripts and compares the transcript with the expected one.</summary>
public sealed class ScriptTests
{
    public static TheoryData<string> Scripts()
    {
        var data = new TheoryData<string>();
        foreach (var path in Directory.GetFiles(ScriptDirectory(), "*.txt").Order(StringComparer.Ordinal)) data.Add(Path.GetFileName(path));
        return data;
    }

    [Theory]
    [MemberData(nameof(Scripts))]
    public void Script_transcript_matches(string name)
    {
        var path = Path.Combine(ScriptDirectory(), name);
        var expected = File.ReadAllText(path).ReplaceLineEndings("\n");
        var actual = ScriptRunner.Run(expected).ReplaceLineEndings("\n");
        if (Environment.GetEnvironmentVariable("RAFT_REWRITE") == "1")
        {
            File.WriteAllText(path, actual);
            return;
        }
        Assert.Equal(expected.TrimEnd(), actual.TrimEnd());
    }

    // The scripts are read from the source tree, so a rewrite lands where a reviewer sees it.
    private static string ScriptDirectory([CallerFilePath] string source = "") =>
        Path.Combine(Path.GetDirectoryName(source)!, "Scripts");
}
