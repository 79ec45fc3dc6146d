using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Reflection;
using RaftHead.Protocol;

namespace RaftHead.Cli;

/// <summary>
/// <c>rh up</c>: a whole cluster on this machine — three <c>rh head</c> replicas and some <c>rh worker</c>s, as child
/// processes of this one, kept running until Ctrl+C or SIGTERM, which stops them all.
/// </summary>
internal static class UpCommand
{
    /// <summary>How long the cluster has to elect a leader and see every worker register before <c>rh up</c> gives up.</summary>
    public const int ReadyTimeoutMs = 120_000;

    private const int ReadyPollMs = 250;

    /// <summary>A worker counts as registered while the leader has heard from it this recently.</summary>
    private const long WorkerFreshMs = 15_000;

    /// <summary>Data directories: the workers' run-as user must walk down to its sandboxes.</summary>
    public const UnixFileMode Searchable =
        UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
        UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    public static Command Create()
    {
        var data = new Option<string>("--data") { Description = "Directory holding each head's and worker's data (head-N, worker-N).", DefaultValueFactory = _ => "rafthead-cluster" };
        var basePort = new Option<int>("--base-port") { Description = "Port of head 1; heads 2 and 3 take the next two.", DefaultValueFactory = _ => Defaults.HeadGrpcPort };
        var workers = new Option<int>("--workers") { Description = "Workers to start.", DefaultValueFactory = _ => 2 };
        var slots = new Option<int?>("--slots") { Description = "Actions each worker runs at once. Default: the worker's (one per CPU)." };
        var runAs = new Option<string?>("--run-as") { Description = $"Unprivileged account the workers run actions as when rh runs as root. Default: the worker's ({Defaults.RunAsUser})." };
        var noRestart = new Option<bool>("--no-restart") { Description = "Leave a head or worker that dies dead instead of starting it again." };
        var up = new Command("up", "Run a cluster here: three heads and workers, restarted if they die, all stopped on Ctrl+C.");
        up.Options.Add(data);
        up.Options.Add(basePort);
        up.Options.Add(workers);
        up.Options.Add(slots);
        up.Options.Add(runAs);
        up.Options.Add(noRestart);
        up.SetAction((result, cancellationToken) => CliFailure.RunAsync(result, () =>
        {
            var plan = UpPlan.Create(
                result.GetValue(data)!,
                result.GetValue(basePort),
                result.GetValue(workers),
                result.GetValue(slots),
                result.GetValue(runAs),
                !result.GetValue(noRestart));
            return RunAsync(plan, cancellationToken);
        }));
        return up;
    }

    private static async Task<int> RunAsync(UpPlan plan, CancellationToken cancellationToken)
    {
        CheckPortsFree(plan.HeadEndpoints);
        Directory.CreateDirectory(plan.DataDirectory, Searchable);
        Directory.CreateDirectory(plan.WorkerDataRoot, Searchable);
        Console.WriteLine($"data: heads in {plan.DataDirectory}, workers in {plan.WorkerDataRoot}{plan.WorkerDataNote}");

        using var stop = new CancellationTokenSource();
        StopSignals.Route(stop);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(stop.Token, cancellationToken);
        var supervisor = new ProcessSupervisor(Console.Out);
        try
        {
            var (fileName, prefix) = Self();
            foreach (var child in plan.Children(fileName, prefix))
            {
                supervisor.Start(child);
            }

            var (ready, failure) = await WaitReadyAsync(plan, supervisor, ReadyTimeoutMs, linked.Token).ConfigureAwait(false);
            if (ready is null)
            {
                if (failure is not null)
                {
                    await Console.Error.WriteLineAsync($"rh: {failure}").ConfigureAwait(false);
                }

                return linked.IsCancellationRequested ? 0 : CliFailure.ExitFailure;
            }

            Console.WriteLine($"ready: grpc://{string.Join(',', plan.HeadEndpoints)} leader={ready} workers={plan.Workers}");
            var stopped = Task.Delay(Timeout.Infinite, linked.Token);
            if (await Task.WhenAny(stopped, supervisor.Failed).ConfigureAwait(false) == supervisor.Failed)
            {
                await Console.Error.WriteLineAsync($"rh: {await supervisor.Failed.ConfigureAwait(false)}; stopping the cluster").ConfigureAwait(false);
                return CliFailure.ExitFailure;
            }

            Console.WriteLine("stopping: workers, then heads");
            return 0;
        }
        finally
        {
            // Whatever ended this command (a stop, a failure, an exception), no child outlives it.
            await supervisor.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The leader's id once it is elected and sees every worker; else no leader, and why (no reason when stopped
    /// through <paramref name="cancellationToken"/>).
    /// </summary>
    internal static async Task<(long? Leader, string? Failure)> WaitReadyAsync(UpPlan plan, ProcessSupervisor supervisor, int timeoutMs, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        var known = new List<string>(plan.HeadEndpoints);
        var missing = "no head answered yet";
        while (DateTime.UtcNow < deadline)
        {
            if (supervisor.Failed.IsCompleted)
            {
                return (null, $"{await supervisor.Failed.ConfigureAwait(false)}; stopping the cluster");
            }

            try
            {
                var view = await StatusCommand.LookAsync(known, cancellationToken).ConfigureAwait(false);
                if (view.LeaderAnswer is { } leader)
                {
                    var fresh = 0;
                    foreach (var worker in leader.Workers)
                    {
                        if (worker.HasLastHeartbeatAgeMs && worker.LastHeartbeatAgeMs <= WorkerFreshMs)
                        {
                            fresh++;
                        }
                    }

                    if (fresh >= plan.Workers)
                    {
                        return (leader.NodeId, null);
                    }

                    missing = $"leader {leader.NodeId} sees {fresh} of {plan.Workers} worker(s)";
                }
                else
                {
                    missing = view.Missing();
                }

                await Task.Delay(ReadyPollMs, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return (null, null);
            }
        }

        return (null, $"the cluster was not ready within {timeoutMs / 1000} s ({missing}); stopping it");
    }

    /// <summary>This same program: its executable, or the dotnet host and this assembly when run through it.</summary>
    internal static (string FileName, string? Prefix) Self()
    {
        var path = Environment.ProcessPath ?? throw new InvalidOperationException("cannot tell which executable this is, to start the cluster's processes");
        if (Path.GetFileNameWithoutExtension(path) == "dotnet")
        {
            var assembly = Assembly.GetEntryAssembly()?.Location;
            if (string.IsNullOrEmpty(assembly))
            {
                throw new InvalidOperationException("running under the dotnet host without an entry assembly path; cannot start the cluster's processes");
            }

            return (path, assembly);
        }

        return (path, null);
    }

    /// <summary>Says which port is taken before any head fails on it in a restart loop.</summary>
    internal static void CheckPortsFree(IReadOnlyList<string> endpoints)
    {
        foreach (var endpoint in endpoints)
        {
            var port = int.Parse(endpoint[(endpoint.LastIndexOf(':') + 1)..], CultureInfo.InvariantCulture);
            using var listener = new TcpListener(IPAddress.Loopback, port);
            try
            {
                listener.Start();
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
            {
                throw new InvalidOperationException($"port {port} is in use (another rh up or rh head?); choose others with --base-port");
            }
            finally
            {
                listener.Stop();
            }
        }
    }
}
