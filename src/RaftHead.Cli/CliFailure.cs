using System.CommandLine;
using System.Net.Sockets;
using Grpc.Core;
using RaftHead.Protocol;
using RaftHead.Storage.Remote;

namespace RaftHead.Cli;

/// <summary>Every command fails the same way: one line naming the reason on stderr, and a non-zero exit code.</summary>
internal static class CliFailure
{
    public const int ExitFailure = 1;
    public const int ExitUsage = 2;
    public const int ExitUnavailable = 3;

    /// <summary>How long a failed command spends asking the head why, at most.</summary>
    private const int ProbeTimeoutMs = 2_000;

    /// <param name="result">The parsed command line, to name the head in a connection failure.</param>
    /// <param name="body">The command.</param>
    public static async Task<int> RunAsync(ParseResult result, Func<Task<int>> body)
    {
        try
        {
            return await body().ConfigureAwait(false);
        }
        catch (RpcException e) when (SocketErrorOf(e) is { } socket)
        {
            await Console.Error.WriteLineAsync($"rh: cannot reach {CliOptions.ResolveEndpoint(result)}: {Describe(socket)}").ConfigureAwait(false);
            return ExitUnavailable;
        }
        catch (RpcException e) when (LeaderHint.IsNoLeader(e))
        {
            await Console.Error.WriteLineAsync($"rh: no leader yet at {CliOptions.ResolveEndpoint(result)}: an election is under way, or too few heads are up to hold one").ConfigureAwait(false);
            return ExitUnavailable;
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.DeadlineExceeded)
        {
            // A read that must see the latest writes waits for a leader, so a head without one answers nothing at all.
            var endpoint = CliOptions.ResolveEndpoint(result);
            var why = await LeaderlessAsync(endpoint).ConfigureAwait(false) ? ": it knows no leader (an election is under way, or too few heads are up to hold one)" : "";
            await Console.Error.WriteLineAsync($"rh: {endpoint} did not answer within {CliOptions.CallTimeoutSeconds}s{why}").ConfigureAwait(false);
            return ExitUnavailable;
        }
        catch (NoLeaderException e)
        {
            await Console.Error.WriteLineAsync($"rh: {e.Message}").ConfigureAwait(false);
            return ExitUnavailable;
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.Unavailable)
        {
            await Console.Error.WriteLineAsync($"rh: {CliOptions.ResolveEndpoint(result)} is unavailable: {e.Status.Detail}").ConfigureAwait(false);
            return ExitUnavailable;
        }
        catch (RpcException e)
        {
            await Console.Error.WriteLineAsync($"rh: {e.StatusCode}: {e.Status.Detail}").ConfigureAwait(false);
            return ExitFailure;
        }
        catch (HeadsUnavailableException e)
        {
            // A worker (or any command using a head connection) that found no head: the same code as an unreachable one.
            await Console.Error.WriteLineAsync($"rh: {e.Message}").ConfigureAwait(false);
            return ExitUnavailable;
        }
        catch (UsageException e)
        {
            await Console.Error.WriteLineAsync($"rh: {e.Message}").ConfigureAwait(false);
            return ExitUsage;
        }
        catch (OperationCanceledException)
        {
            return ExitFailure;
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or UnauthorizedAccessException)
        {
            // A real failure (a refusal to run as root, a data directory in use, a port taken): not a usage error.
            await Console.Error.WriteLineAsync($"rh: {e.Message}").ConfigureAwait(false);
            return ExitFailure;
        }
    }

    /// <summary>Whether the head answers, quickly, that it knows no leader; false when it does not answer or knows one.</summary>
    private static async Task<bool> LeaderlessAsync(string endpoint)
    {
        try
        {
            var admin = new RaftHead.Protocol.V1.Admin.AdminClient(Protocol.Client.GrpcChannels.Shared.For(endpoint));
            var status = await admin.GetNodeStatusAsync(new RaftHead.Protocol.V1.GetNodeStatusRequest(), deadline: DateTime.UtcNow.AddMilliseconds(ProbeTimeoutMs)).ConfigureAwait(false);
            return status.LeaderId == 0;
        }
        catch (RpcException)
        {
            return false;
        }
    }

    /// <summary>Why one call failed, in a few words (for a table cell or a list of heads): "connection refused".</summary>
    public static string Describe(RpcException e)
    {
        ArgumentNullException.ThrowIfNull(e);
        if (SocketErrorOf(e) is { } socket)
        {
            return Describe(socket);
        }

        if (LeaderHint.IsNoLeader(e))
        {
            return "no leader yet";
        }

        return e.StatusCode switch
        {
            StatusCode.DeadlineExceeded => "no answer in time",
            StatusCode.Unavailable => "unavailable",
            StatusCode.Unimplemented => "not a cluster head",
            _ => $"{e.StatusCode}: {e.Status.Detail}",
        };
    }

    /// <summary>The socket's reason when the call never reached a server.</summary>
    private static SocketError? SocketErrorOf(RpcException e) =>
        e.StatusCode == StatusCode.Unavailable && Innermost(e.Status.DebugException) is SocketException socket ? socket.SocketErrorCode : null;

    private static Exception? Innermost(Exception? e)
    {
        while (e?.InnerException is not null)
        {
            e = e.InnerException;
        }

        return e;
    }

    private static string Describe(SocketError error) => error switch
    {
        SocketError.ConnectionRefused => "connection refused",
        SocketError.TimedOut => "connection timed out",
        SocketError.HostNotFound or SocketError.NoData => "no such host",
        SocketError.HostUnreachable or SocketError.NetworkUnreachable => "host unreachable",
        _ => error.ToString(),
    };
}
