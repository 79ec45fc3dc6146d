using System.CommandLine;
using RaftHead.Cli.Demo;

namespace RaftHead.Cli;

/// <summary>
/// <c>rh demo</c>: a cluster of three heads and two workers of its own, a small C project built through it twice
/// (cold, with the leader killed mid-build; then from the cache), and what happened, in a minute or less.
/// </summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var keep = new Option<bool>("--keep") { Description = "Keep the temporary directory: the cluster's data and output (cluster.log), the project and the built program." };
        var basePort = new Option<int?>("--base-port") { Description = "Port of head 1; heads 2 and 3 take the next two. Default: three consecutive ports that are free when the demo starts." };
        var demo = new Command("demo", "See it work: a cluster of its own builds a small C project twice, cold with its leader killed mid-build, then from the cache.");
        demo.Options.Add(keep);
        demo.Options.Add(basePort);
        demo.SetAction((result, cancellationToken) => CliFailure.RunAsync(result, async () =>
        {
            var json = result.GetValue(CliOptions.Json);
            var settings = new DemoSettings(result.GetValue(keep), result.GetValue(basePort), json, Live: !json && !Console.IsOutputRedirected);
            using var stop = new CancellationTokenSource();
            StopSignals.Route(stop);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(stop.Token, cancellationToken);
            return await DemoRun.RunAsync(settings, Console.Out, Console.Error, linked.Token).ConfigureAwait(false);
        }));
        return demo;
    }
}
