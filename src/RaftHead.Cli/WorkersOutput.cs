using System.Globalization;
using System.Text.Json.Nodes;
using RaftHead.Protocol.V1;
using Spectre.Console;

namespace RaftHead.Cli;

/// <summary>The workers of a leader's <see cref="GetNodeStatusResponse"/>, for <c>rh workers</c> and <c>rh status</c>.</summary>
internal static class WorkersOutput
{
    /// <summary>Beats a worker may miss before it is shown as silent: one late beat on a busy machine is no news.</summary>
    private const int MissedBeatsSilent = 3;

    /// <summary>
    /// quarantined (takes no new work until released, whatever its heartbeat: an operator's decision, known to every
    /// replica), ok, retiring (takes no new work, leaves when its leases end), silent (missed beats: the leader declares
    /// it dead once the silence reaches the heartbeat TTL), or unknown (no heartbeat age: a follower's answer, or a new
    /// leader not yet heard from it).
    /// </summary>
    public static string State(WorkerStatus worker, GetNodeStatusResponse from)
    {
        ArgumentNullException.ThrowIfNull(worker);
        ArgumentNullException.ThrowIfNull(from);
        if (worker.QuarantineReason.Length > 0)
        {
            return "quarantined";
        }

        if (!worker.HasLastHeartbeatAgeMs)
        {
            return "unknown";
        }

        if (from.HeartbeatIntervalMs > 0 && worker.LastHeartbeatAgeMs > (long)from.HeartbeatIntervalMs * MissedBeatsSilent)
        {
            return "silent";
        }

        return worker.Retiring ? "retiring" : "ok";
    }

    /// <summary>Leases a slot runs; the rest (up to its lease-ahead) wait on the worker for a slot. Shown as leased/slots.</summary>
    public static uint Running(WorkerStatus worker) => Math.Min(worker.Leased, worker.Slots);

    public static string Render(GetNodeStatusResponse from, HumanOutput output)
    {
        ArgumentNullException.ThrowIfNull(output);
        return output.Render(console => Draw(console, from, output));
    }

    public static void Draw(IAnsiConsole console, GetNodeStatusResponse from, HumanOutput output)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(from);
        ArgumentNullException.ThrowIfNull(output);
        if (from.Workers.Count == 0)
        {
            console.WriteLine("no workers registered");
            return;
        }

        var table = output.Table("worker", "state", ">leased/slots", ">cpu", ">memory", ">gpus", ">heartbeat", "platform");
        foreach (var w in from.Workers)
        {
            var state = State(w, from);
            table.AddRow(
                output.Cell(w.WorkerId),
                output.Cell(StateText(w, state, output), state switch { "ok" => Color.Green, "silent" or "quarantined" => Color.Red, "retiring" => Color.Yellow, _ => null }),
                output.Cell(string.Create(CultureInfo.InvariantCulture, $"{w.Leased}/{w.Slots}")),
                output.Cell(w.CpuMillis == 0 ? "-" : Humanize.Cores((long)w.CpuMillisLeased) + "/" + Humanize.Cores(w.CpuMillis)),
                output.Cell(w.MemoryBytes == 0 ? "-" : Humanize.Bytes(w.MemoryBytesLeased) + "/" + Humanize.Bytes(w.MemoryBytes)),
                output.Cell(w.Gpus.ToString(CultureInfo.InvariantCulture)),
                output.Cell(w.HasLastHeartbeatAgeMs ? Humanize.DurationMs(w.LastHeartbeatAgeMs) + " ago" : "-", state == "silent" ? Color.Red : null),
                output.Cell(PlatformText(w.Platform, output.Terminal ? "\n" : ",")));
        }

        console.Write(table);
        if (output.Terminal)
        {
            foreach (var w in from.Workers)
            {
                if (w.QuarantineReason.Length > 0)
                {
                    console.Write(new Text($"{w.WorkerId} quarantined: {w.QuarantineReason}\n"));
                }
            }
        }
    }

    /// <summary>
    /// The state cell: a quarantine says why. On a terminal the reason goes under the table instead, as a sentence
    /// would push the columns that follow off a narrow screen; a pipe keeps one line per worker.
    /// </summary>
    private static string StateText(WorkerStatus worker, string state, HumanOutput output) =>
        state == "quarantined" && !output.Terminal ? "quarantined: " + worker.QuarantineReason : state;

    /// <summary>One worker as <c>--json</c> prints it (names in snake_case, sizes in bytes, CPU in thousandths of a core).</summary>
    public static JsonObject Json(WorkerStatus w, GetNodeStatusResponse from)
    {
        ArgumentNullException.ThrowIfNull(w);
        var platform = new JsonObject();
        foreach (var property in w.Platform?.Properties ?? [])
        {
            platform[property.Name] = property.Value;
        }

        return new JsonObject
        {
            ["id"] = w.WorkerId,
            ["state"] = State(w, from),
            ["slots"] = w.Slots,
            ["leased"] = w.Leased,
            ["running"] = Running(w),
            ["lease_ahead"] = w.LeaseAhead,
            ["cpu_millis"] = w.CpuMillis,
            ["cpu_millis_leased"] = w.CpuMillisLeased,
            ["memory_bytes"] = w.MemoryBytes,
            ["memory_bytes_leased"] = w.MemoryBytesLeased,
            ["gpus"] = w.Gpus,
            ["last_heartbeat_age_ms"] = w.HasLastHeartbeatAgeMs ? w.LastHeartbeatAgeMs : null,
            ["retiring"] = w.Retiring,
            ["quarantine_reason"] = w.QuarantineReason.Length > 0 ? w.QuarantineReason : null,
            ["quarantined_at"] = w.QuarantinedAt?.ToDateTime().ToString("O", CultureInfo.InvariantCulture),
            ["registered_at"] = w.RegisteredAt?.ToDateTime().ToString("O", CultureInfo.InvariantCulture),
            ["platform"] = platform,
        };
    }

    /// <summary><c>rh workers --json</c>: who answered, the heartbeat timing the states were judged by, and every worker.</summary>
    public static JsonObject Json(GetNodeStatusResponse from)
    {
        ArgumentNullException.ThrowIfNull(from);
        var workers = new JsonArray();
        foreach (var w in from.Workers)
        {
            workers.Add(Json(w, from));
        }

        return new JsonObject
        {
            ["leader"] = new JsonObject { ["id"] = from.NodeId, ["address"] = from.Address },
            ["term"] = from.Term,
            ["heartbeat_interval_ms"] = from.HeartbeatIntervalMs,
            ["heartbeat_ttl_ms"] = from.HeartbeatTtlMs,
            ["workers"] = workers,
        };
    }

    /// <summary>name=value pairs; on a terminal one a line inside the cell, so a long platform wraps between properties.</summary>
    private static string PlatformText(Build.Bazel.Remote.Execution.V2.Platform? platform, string separator) =>
        platform is null || platform.Properties.Count == 0 ? "-" : string.Join(separator, platform.Properties.Select(p => $"{p.Name}={p.Value}"));
}
