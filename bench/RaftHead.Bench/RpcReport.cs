using System.Globalization;
using System.Runtime;
using System.Text;

namespace RaftHead.Bench;

/// <summary>Medians of rounds against the issue's goals, as markdown.</summary>
internal sealed class RpcReport
{
    public const double MaxOverheadRatio = 1.15;
    public const double MinCallsPerSecond = 30_000;
    public const double MinStreamMegabytesPerSecond = 1_000;

    private readonly BenchOptions _options;
    private readonly IReadOnlyList<RoundResult> _latency;
    private readonly IReadOnlyList<RoundResult> _throughput;
    private readonly IReadOnlyDictionary<int, List<RoundResult>> _streaming;
    private readonly IReadOnlyDictionary<string, IReadOnlyList<KeyValuePair<string, long>>> _profiles;

    public RpcReport(
        BenchOptions options,
        IReadOnlyList<RoundResult> latency,
        IReadOnlyList<RoundResult> throughput,
        IReadOnlyDictionary<int, List<RoundResult>> streaming,
        IReadOnlyDictionary<string, IReadOnlyList<KeyValuePair<string, long>>> profiles)
    {
        _options = options;
        _latency = latency;
        _throughput = throughput;
        _streaming = streaming;
        _profiles = profiles;
    }

    public string ToMarkdown(string commandLine, DateTimeOffset startedUtc)
    {
        var md = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        md.AppendLine(inv, $"Command: `{commandLine}`  ");
        md.AppendLine(inv, $"Date: {startedUtc:yyyy-MM-dd HH:mm} UTC  ");
        md.AppendLine(inv, $"Machine: {Environment.ProcessorCount} logical cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}, {(GCSettings.IsServerGC ? "server" : "workstation")} GC; client and servers in one process on 127.0.0.1, h2c.  ");
        md.AppendLine(inv, $"Rounds: {_options.Rounds} per side of {_options.RoundSeconds:0.#} s each (after a warm-up round), sides alternating; every figure is the median of its rounds. Unary payload {_options.UnaryPayloadBytes} B (a bytes field), {_options.Callers} concurrent callers.");
        md.AppendLine();

        var bareSeq = Of(_latency, RpcScenario.Bare);
        var grpcSeq = Of(_latency, RpcScenario.Grpc);
        var bareConc = Of(_throughput, RpcScenario.Bare);
        var grpcConc = Of(_throughput, RpcScenario.Grpc);

        md.AppendLine("| Measure | Bare Kestrel | grpc-dotnet as configured | grpc-dotnet / bare | Goal | Met |");
        md.AppendLine("|---|---:|---:|---:|---|---|");
        var p50Ratio = Median(grpcSeq, r => r.P50Us) / Median(bareSeq, r => r.P50Us);
        Row(md, "1 caller: p50 latency (µs)", bareSeq, grpcSeq, r => r.P50Us, "0.0", p50Ratio, $"≤ {MaxOverheadRatio:0.00}", p50Ratio <= MaxOverheadRatio);
        Row(md, "1 caller: p99 latency (µs)", bareSeq, grpcSeq, r => r.P99Us, "0.0", Median(grpcSeq, r => r.P99Us) / Median(bareSeq, r => r.P99Us), "—", null);
        Row(md, "1 caller: calls/s", bareSeq, grpcSeq, r => r.CallsPerSecond, "0", Median(grpcSeq, r => r.CallsPerSecond) / Median(bareSeq, r => r.CallsPerSecond), "—", null);
        Row(md, "1 caller: allocated B/call (client+server)", bareSeq, grpcSeq, r => r.AllocatedBytesPerCall, "0", Median(grpcSeq, r => r.AllocatedBytesPerCall) / Median(bareSeq, r => r.AllocatedBytesPerCall), "—", null);
        var grpcRate = Median(grpcConc, r => r.CallsPerSecond);
        var costRatio = Median(bareConc, r => r.CallsPerSecond) / grpcRate;
        Row(md, $"{_options.Callers} callers: calls/s", bareConc, grpcConc, r => r.CallsPerSecond, "0", 1 / costRatio, $"grpc-dotnet ≥ {MinCallsPerSecond:0}", grpcRate >= MinCallsPerSecond);
        md.AppendLine(inv, $"| {_options.Callers} callers: cost per call, grpc-dotnet / bare | | | {costRatio:0.00} | ≤ {MaxOverheadRatio:0.00} | {Yes(costRatio <= MaxOverheadRatio)} |");
        Row(md, $"{_options.Callers} callers: allocated B/call (client+server)", bareConc, grpcConc, r => r.AllocatedBytesPerCall, "0", Median(grpcConc, r => r.AllocatedBytesPerCall) / Median(bareConc, r => r.AllocatedBytesPerCall), "—", null);
        Row(md, $"{_options.Callers} callers: gen0 GCs per round", bareConc, grpcConc, r => r.Gen0Collections, "0", double.NaN, "—", null);
        foreach (var (messageBytes, rounds) in _streaming.OrderBy(p => p.Key))
        {
            var bare = Of(rounds, RpcScenario.Bare);
            var grpc = Of(rounds, RpcScenario.PooledCopy);
            var mbps = Median(grpc, r => r.MegabytesPerSecond);
            Row(md, $"1 server stream, {Size(messageBytes)} messages: MB/s", bare, grpc, r => r.MegabytesPerSecond, "0", mbps / Median(bare, r => r.MegabytesPerSecond), $"grpc-dotnet ≥ {MinStreamMegabytesPerSecond:0}", mbps >= MinStreamMegabytesPerSecond);
            Row(md, $"1 server stream, {Size(messageBytes)} messages: allocated B/MB", bare, grpc, r => r.AllocatedBytes / (r.PayloadBytes / 1e6), "0", double.NaN, "—", null);
            Row(md, $"1 server stream, {Size(messageBytes)} messages: gen2 GCs per round", bare, grpc, r => r.Gen2Collections, "0", double.NaN, "—", null);
        }

        md.AppendLine();
        md.AppendLine("MB = 10^6 bytes of message payload. Bare Kestrel echoes the request's framed bytes (`application/grpc`, no trailers, no parsing); its stream writes prebuilt framed bytes and the client only drains them. grpc-dotnet: the bench's echo service hosted by `GrpcServer.Create` (defaults of `GrpcServerOptions`), called through a channel from `GrpcChannels.Create` (defaults of `GrpcChannelSettings`); its stream row copies each message into a pooled buffer and then into a new `ByteString`, as `ByteStreamService.Read` does. \"Cost per call\" is bare calls/s ÷ grpc-dotnet calls/s. Allocation is process-wide (`GC.GetTotalAllocatedBytes`), so it covers client and server.");
        md.AppendLine();

        var retryOnSeq = Of(_latency, RpcScenario.RetryOn);
        var retryOffSeq = Of(_latency, RpcScenario.RetryOff);
        var retryOnConc = Of(_throughput, RpcScenario.RetryOn);
        var retryOffConc = Of(_throughput, RpcScenario.RetryOff);
        md.AppendLine("Switches, measured in the same alternating rounds:");
        md.AppendLine();
        md.AppendLine("| Switch | Measure | Setting A | Setting B | B / A |");
        md.AppendLine("|---|---|---:|---:|---:|");
        SwitchRow(md, "channel retry policy: A = on (default, GetActionResult is on its list), B = off (`RetryAttemptsMax = 1`)", "1 caller: p50 µs", retryOnSeq, retryOffSeq, r => r.P50Us, "0.0");
        SwitchRow(md, "", "1 caller: p99 µs", retryOnSeq, retryOffSeq, r => r.P99Us, "0.0");
        SwitchRow(md, "", "1 caller: allocated B/call", retryOnSeq, retryOffSeq, r => r.AllocatedBytesPerCall, "0");
        SwitchRow(md, "", $"{_options.Callers} callers: calls/s", retryOnConc, retryOffConc, r => r.CallsPerSecond, "0");
        SwitchRow(md, "", $"{_options.Callers} callers: allocated B/call", retryOnConc, retryOffConc, r => r.AllocatedBytesPerCall, "0");
        foreach (var (messageBytes, rounds) in _streaming.OrderBy(p => p.Key))
        {
            var copy = Of(rounds, RpcScenario.PooledCopy);
            foreach (var (other, label) in new[] { (RpcScenario.PooledWrap, "A = pooled buffer + `ByteString.CopyFrom` (today), B = pooled buffer + `UnsafeWrap`"), (RpcScenario.FreshWrap, "A = pooled buffer + `ByteString.CopyFrom` (today), B = new array per message + `UnsafeWrap`") })
            {
                var b = Of(rounds, other);
                SwitchRow(md, $"server stream, {Size(messageBytes)}: {label}", "MB/s", copy, b, r => r.MegabytesPerSecond, "0");
                SwitchRow(md, "", "allocated B/MB", copy, b, r => r.AllocatedBytes / (r.PayloadBytes / 1e6), "0");
                SwitchRow(md, "", "gen2 GCs per round", copy, b, r => r.Gen2Collections, "0");
            }
        }

        md.AppendLine();
        md.AppendLine("<details><summary>All rounds</summary>");
        md.AppendLine();
        md.AppendLine("| Phase | Side | Calls | Seconds | Calls/s | p50 µs | p99 µs | MB/s | B/call | gen0 | gen2 |");
        md.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in _latency)
        {
            RoundRow(md, "1 caller", r);
        }

        foreach (var r in _throughput)
        {
            RoundRow(md, $"{_options.Callers} callers", r);
        }

        foreach (var (messageBytes, rounds) in _streaming.OrderBy(p => p.Key))
        {
            foreach (var r in rounds)
            {
                RoundRow(md, $"stream {Size(messageBytes)}", r);
            }
        }

        md.AppendLine();
        md.AppendLine("</details>");
        foreach (var (side, types) in _profiles)
        {
            var total = types.Sum(p => p.Value);
            md.AppendLine();
            md.AppendLine(inv, $"Sampled allocations by type, {side}, {_options.Callers} callers (GCAllocationTick, ~100 KB granularity; top {types.Count}):");
            md.AppendLine();
            md.AppendLine("| Type | Share of sampled bytes |");
            md.AppendLine("|---|---:|");
            foreach (var (type, bytes) in types)
            {
                md.AppendLine(inv, $"| `{CompactTypeName(type)}` | {100.0 * bytes / Math.Max(1, total):0.0}% |");
            }
        }

        md.AppendLine();
        md.AppendLine("The retired hand-written layer (`src/RaftHead.Rpc`) can no longer run here; its last figures are in bench/RESULTS.md, section \"RPC layer (issue: foundation)\".");
        return md.ToString();
    }

    private static RoundResult[] Of(IEnumerable<RoundResult> rounds, string side) => rounds.Where(r => r.Side == side).ToArray();

    private static double Median(IReadOnlyList<RoundResult> rounds, Func<RoundResult, double> value)
    {
        if (rounds.Count == 0)
        {
            return double.NaN;
        }

        var values = rounds.Select(value).Order().ToArray();
        return values.Length % 2 == 1 ? values[values.Length / 2] : (values[(values.Length / 2) - 1] + values[values.Length / 2]) / 2;
    }

    private static void Row(
        StringBuilder md,
        string measure,
        IReadOnlyList<RoundResult> bare,
        IReadOnlyList<RoundResult> grpc,
        Func<RoundResult, double> value,
        string format,
        double ratio,
        string goal,
        bool? met)
    {
        md.AppendLine(string.Create(
            CultureInfo.InvariantCulture,
            $"| {measure} | {Format(Median(bare, value), format)} | {Format(Median(grpc, value), format)} | {Format(ratio, "0.00")} | {goal} | {(met is { } m ? Yes(m) : "—")} |"));
    }

    private static void SwitchRow(StringBuilder md, string label, string measure, IReadOnlyList<RoundResult> a, IReadOnlyList<RoundResult> b, Func<RoundResult, double> value, string format)
    {
        var ma = Median(a, value);
        var mb = Median(b, value);
        md.AppendLine(string.Create(
            CultureInfo.InvariantCulture,
            $"| {label} | {measure} | {Format(ma, format)} | {Format(mb, format)} | {Format(mb / ma, "0.00")} |"));
    }

    private static void RoundRow(StringBuilder md, string phase, RoundResult r) =>
        md.AppendLine(string.Create(
            CultureInfo.InvariantCulture,
            $"| {phase} | {r.Side} | {r.Calls} | {r.Elapsed.TotalSeconds:0.00} | {r.CallsPerSecond:0} | {Format(r.P50Us, "0.0")} | {Format(r.P99Us, "0.0")} | {Format(r.PayloadBytes == 0 ? double.NaN : r.MegabytesPerSecond, "0")} | {r.AllocatedBytesPerCall:0} | {r.Gen0Collections} | {r.Gen2Collections} |"));

    private static string Format(double value, string format) =>
        double.IsNaN(value) || double.IsInfinity(value) ? "—" : value.ToString(format, CultureInfo.InvariantCulture);

    /// <summary>An async box is named by its state machine; generic arguments and namespaces are dropped.</summary>
    private static string CompactTypeName(string type)
    {
        const string box = "AsyncStateMachineBox`1[";
        var name = type;
        var prefix = "";
        if (name.StartsWith(box, StringComparison.Ordinal))
        {
            // AsyncStateMachineBox`1[TResult,StateMachine[...]]: the state machine is the argument after the first top-level comma.
            var depth = 0;
            for (var i = box.Length; i < name.Length; i++)
            {
                depth += name[i] switch { '[' => 1, ']' => -1, _ => 0 };
                if (depth == 0 && name[i] == ',')
                {
                    name = name[(i + 1)..];
                    prefix = "async ";
                    break;
                }
            }
        }

        var array = name.EndsWith("[]", StringComparison.Ordinal) ? "[]" : "";
        var bracket = name.IndexOf('[', StringComparison.Ordinal);
        if (bracket > 0)
        {
            name = name[..bracket];
        }

        var plus = name.IndexOf('+', StringComparison.Ordinal);
        var dot = name.LastIndexOf('.', plus > 0 ? plus : name.Length - 1);
        return prefix + (dot > 0 ? name[(dot + 1)..] : name).TrimEnd(']') + array;
    }

    private static string Yes(bool met) => met ? "**yes**" : "**no**";

    private static string Size(int bytes) => bytes >= 1024 * 1024 ? $"{bytes / (1024 * 1024)} MiB" : $"{bytes / 1024} KiB";
}
