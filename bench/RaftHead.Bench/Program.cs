using System.Globalization;

namespace RaftHead.Bench;

/// <summary>Scenario runner: <c>dotnet run -c Release --project bench/RaftHead.Bench -- rpc [--seconds N] [--rounds N] [--out FILE] [--profile-alloc] [--skip-streaming]</c>.</summary>
internal static class Program
{
    private const string Usage = "usage: RaftHead.Bench rpc [--seconds N] [--rounds N] [--callers N] [--out FILE] [--profile-alloc] [--skip-streaming]";

    public static async Task<int> Main(string[] args)
    {
        if (args.Length == 0 || args[0] != "rpc")
        {
            Console.Error.WriteLine(Usage);
            return 2;
        }

        BenchOptions options;
        try
        {
            options = Parse(args.AsSpan(1));
        }
        catch (FormatException e)
        {
            Console.Error.WriteLine(e.Message);
            Console.Error.WriteLine(Usage);
            return 2;
        }

        using var run = new CancellationTokenSource(options.RunLimit);
        var started = TimeProvider.System.GetUtcNow();
        var scenario = new RpcScenario(options, TimeProvider.System, Console.Error);
        var report = await scenario.RunAsync(run.Token).ConfigureAwait(false);
        var markdown = report.ToMarkdown("dotnet run -c Release --project bench/RaftHead.Bench -- " + string.Join(' ', args), started);
        Console.WriteLine(markdown);
        if (options.OutPath is { } path)
        {
            await File.WriteAllTextAsync(path, markdown, run.Token).ConfigureAwait(false);
            Console.Error.WriteLine($"written to {path}");
        }

        return 0;
    }

    private static BenchOptions Parse(ReadOnlySpan<string> args)
    {
        var options = new BenchOptions();
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            options = arg switch
            {
                "--seconds" => options with { RoundSeconds = Math.Clamp(double.Parse(Value(args, ref i), CultureInfo.InvariantCulture), 0.2, 60) },
                "--rounds" => options with { Rounds = Math.Clamp(int.Parse(Value(args, ref i), CultureInfo.InvariantCulture), 1, 15) },
                "--callers" => options with { Callers = Math.Clamp(int.Parse(Value(args, ref i), CultureInfo.InvariantCulture), 1, 1024) },
                "--out" => options with { OutPath = Value(args, ref i) },
                "--profile-alloc" => options with { ProfileAllocations = true },
                "--skip-streaming" => options with { SkipStreaming = true },
                _ => throw new FormatException($"unknown argument '{arg}'"),
            };
        }

        return options;
    }

    private static string Value(ReadOnlySpan<string> args, ref int i)
    {
        if (i + 1 >= args.Length)
        {
            throw new FormatException($"{args[i]} needs a value");
        }

        return args[++i];
    }
}
