using System.Globalization;
using RaftHead.Rpc.Client;
using RaftHead.Rpc.Server;

namespace RaftHead.Bench;

/// <summary>
/// The RPC layer benchmark: bare Kestrel HTTP/2 against our gRPC layer in one process, rounds alternating
/// between the sides so that machine noise falls on both, medians of rounds reported.
/// </summary>
internal sealed class RpcScenario
{
    public const string Bare = "bare Kestrel";
    public const string Ours = "ours";
    public const string OursIdempotent = "ours, idempotent";

    private static readonly int[] StreamMessageSizes = [64 * 1024, 1024 * 1024];

    private readonly BenchOptions _options;
    private readonly LoadDriver _driver;
    private readonly TextWriter _progress;
    private readonly List<RoundResult> _latency = new();
    private readonly List<RoundResult> _throughput = new();
    private readonly Dictionary<int, List<RoundResult>> _streaming = new();
    private readonly Dictionary<string, IReadOnlyList<KeyValuePair<string, long>>> _profiles = new();

    public RpcScenario(BenchOptions options, TimeProvider time, TextWriter progress)
    {
        _options = options;
        _driver = new LoadDriver(time);
        _progress = progress;
    }

    public async Task<RpcReport> RunAsync(CancellationToken cancellationToken)
    {
        var serverOptions = new RpcServerOptions { Address = System.Net.IPAddress.Loopback, Port = 0 };
        var channelOptions = new RpcChannelOptions();
        await using var ours = new RpcServer(serverOptions, [BenchService.Build()]);
        await using var bare = new BareKestrelServer(serverOptions);
        await ours.StartAsync(cancellationToken).ConfigureAwait(false);
        await bare.StartAsync(cancellationToken).ConfigureAwait(false);
        using var channel = new RpcChannel(ours.Address.ToString(), channelOptions);
        using var bareClient = new BareClient(bare.Address, channelOptions);
        _progress.WriteLine($"servers: ours {ours.Address}, bare {bare.Address}");

        var request = BenchService.Payload(_options.UnaryPayloadBytes);
        var frame = Frames.Encode(request);
        var sides = new (string Name, Func<Func<CancellationToken, Task>> NewCaller)[]
        {
            (Bare, () =>
            {
                var buffer = new byte[frame.Length + 64];
                return async token =>
                {
                    var echoed = await bareClient.EchoAsync(frame, buffer, token).ConfigureAwait(false);
                    Check(echoed == frame.Length, "bare echo length");
                };
            }),
            (Ours, () => async token =>
            {
                var response = await channel.UnaryAsync(BenchService.Echo, request, new CallOptions { CancellationToken = token }).ConfigureAwait(false);
                Check(response.Value.Length == request.Value.Length, "echo length");
            }),
            (OursIdempotent, () => async token =>
            {
                var response = await channel.UnaryAsync(BenchService.EchoIdempotent, request, new CallOptions { CancellationToken = token }).ConfigureAwait(false);
                Check(response.Value.Length == request.Value.Length, "echo length");
            }),
        };

        var round = TimeSpan.FromSeconds(_options.RoundSeconds);
        var warmUp = TimeSpan.FromSeconds(Math.Min(1.5, _options.RoundSeconds));
        foreach (var (name, newCaller) in sides)
        {
            Report(await _driver.SequentialAsync(name, newCaller(), warmUp, _options.MaxCallsPerRound, cancellationToken).ConfigureAwait(false), "warm-up 1 caller");
            Report(await _driver.ConcurrentAsync(name, newCaller, _options.Callers, warmUp, _options.MaxCallsPerRound, cancellationToken).ConfigureAwait(false), "warm-up N callers");
        }

        for (var r = 0; r < _options.Rounds; r++)
        {
            foreach (var (name, newCaller) in sides)
            {
                _latency.Add(Report(await _driver.SequentialAsync(name, newCaller(), round, _options.MaxCallsPerRound, cancellationToken).ConfigureAwait(false), "1 caller"));
            }
        }

        for (var r = 0; r < _options.Rounds; r++)
        {
            foreach (var (name, newCaller) in sides)
            {
                _throughput.Add(Report(await _driver.ConcurrentAsync(name, newCaller, _options.Callers, round, _options.MaxCallsPerRound, cancellationToken).ConfigureAwait(false), $"{_options.Callers} callers"));
            }
        }

        foreach (var messageBytes in _options.SkipStreaming ? [] : StreamMessageSizes)
        {
            var messages = (int)Math.Clamp(_options.StreamCallBytes / messageBytes, 1, BenchService.MaxStreamMessages);
            var streamBuffer = new byte[1024 * 1024];
            var streamFrameBytes = RaftHead.Rpc.GrpcProtocol.FrameHeaderBytes + BenchService.Payload(messageBytes).CalculateSize();
            var streamSides = new (string Name, Func<CancellationToken, Task<long>> Call)[]
            {
                (Bare, async token =>
                {
                    var received = await bareClient.DownloadAsync(messages, messageBytes, streamBuffer, token).ConfigureAwait(false);
                    Check(received == (long)messages * streamFrameBytes, "bare stream length");
                    return (long)messages * messageBytes;
                }),
                (Ours, token => DownloadAsync(channel, messages, messageBytes, token)),
            };
            var results = new List<RoundResult>();
            _streaming[messageBytes] = results;
            foreach (var (name, call) in streamSides)
            {
                Report(await _driver.StreamingAsync(name, call, warmUp, maxCalls: 1000, cancellationToken).ConfigureAwait(false), $"warm-up stream {messageBytes / 1024} KiB");
            }

            for (var r = 0; r < _options.Rounds; r++)
            {
                foreach (var (name, call) in streamSides)
                {
                    results.Add(Report(await _driver.StreamingAsync(name, call, round, maxCalls: 10_000, cancellationToken).ConfigureAwait(false), $"stream {messageBytes / 1024} KiB"));
                }
            }
        }

        if (_options.ProfileAllocations)
        {
            using var sampler = new AllocationSampler();
            foreach (var (name, newCaller) in sides)
            {
                sampler.Start();
                Report(await _driver.ConcurrentAsync(name, newCaller, _options.Callers, round, _options.MaxCallsPerRound, cancellationToken).ConfigureAwait(false), "profile (sampled, slower)");
                _profiles[name] = sampler.Stop(top: 20);
            }
        }

        return new RpcReport(_options, _latency, _throughput, _streaming, _profiles);
    }

    private static async Task<long> DownloadAsync(RpcChannel channel, int messages, int messageBytes, CancellationToken cancellationToken)
    {
        using var call = channel.ServerStreaming(BenchService.Download, BenchService.StreamRequest(messages, messageBytes), new CallOptions { CancellationToken = cancellationToken });
        long payload = 0;
        var received = 0;
        while (received <= messages && await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false))
        {
            payload += call.ResponseStream.Current.Value.Length;
            received++;
        }

        Check(received == messages && payload == (long)messages * messageBytes, "stream length");
        return payload;
    }

    private static void Check(bool condition, string what)
    {
        if (!condition)
        {
            throw new InvalidOperationException($"Benchmark self-check failed: {what}.");
        }
    }

    private RoundResult Report(RoundResult result, string phase)
    {
        _progress.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"{phase,-26} {result.Side,-17} calls {result.Calls,8} in {result.Elapsed.TotalSeconds,5:0.00}s  {result.CallsPerSecond,9:0} calls/s  p50 {result.P50Us,7:0.0}us p99 {result.P99Us,7:0.0}us  {result.MegabytesPerSecond,7:0} MB/s  {result.AllocatedBytesPerCall,9:0} B/call  gen0 {result.Gen0Collections} gen2 {result.Gen2Collections}"));
        return result;
    }
}
