using System.Globalization;
using Build.Bazel.Remote.Execution.V2;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using RaftHead.Bench.Wire;
using RaftHead.Head.Hosting;
using RaftHead.Protocol;
using RaftHead.Protocol.Client;

namespace RaftHead.Bench;

/// <summary>
/// The RPC benchmark: bare Kestrel HTTP/2 against grpc-dotnet as RaftHead configures it (<see cref="GrpcServer"/> and
/// <see cref="GrpcChannels.Create"/>) in one process, rounds alternating between the sides so that machine noise falls
/// on both, medians of rounds reported. Switches that can be flipped per call (the channel's retry policy, how the
/// server hands stream bytes to protobuf) run as further sides in the same rounds.
/// </summary>
internal sealed class RpcScenario
{
    public const string Bare = "bare Kestrel";
    public const string Grpc = "grpc-dotnet";
    public const string RetryOn = "GetActionResult, retry policy (default)";
    public const string RetryOff = "GetActionResult, RetryAttemptsMax = 1";
    public const string PooledCopy = "grpc-dotnet, pooled buffer + ByteString.CopyFrom";
    public const string PooledWrap = "grpc-dotnet, pooled buffer + UnsafeWrap";
    public const string FreshWrap = "grpc-dotnet, new array + UnsafeWrap";

    public static readonly int[] StreamMessageSizes = [64 * 1024, 1024 * 1024];

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
        var serverOptions = new GrpcServerOptions { Port = 0 };
        var settings = new GrpcChannelSettings();
        var actionResult = ActionResultOfTypicalSize();
        await using var grpc = GrpcServer.Create(
            serverOptions,
            (services, _) =>
            {
                services.AddSingleton(new BenchService());
                services.AddSingleton(new BenchActionCache(actionResult));
            },
            endpoints =>
            {
                endpoints.MapGrpcService<BenchService>();
                endpoints.MapGrpcService<BenchActionCache>();
            },
            health => health.AddCheck("bench", () => HealthCheckResult.Healthy()));
        await using var bare = new BareKestrelServer(serverOptions);
        await grpc.StartAsync(cancellationToken).ConfigureAwait(false);
        await bare.StartAsync(cancellationToken).ConfigureAwait(false);
        using var channel = GrpcChannels.Create(grpc.Address, settings);
        using var noRetryChannel = GrpcChannels.Create(grpc.Address, settings with { RetryAttemptsMax = 1 });
        using var bareClient = new BareClient(bare.Address, settings);
        var echo = new Wire.Bench.BenchClient(channel);
        var cache = new ReapiClients(channel).ActionCache;
        var cacheNoRetry = new ReapiClients(noRetryChannel).ActionCache;
        _progress.WriteLine($"servers: grpc-dotnet {grpc.Address}, bare {bare.Address}; GetActionResult answers {actionResult.CalculateSize()} B");

        var request = Payloads.Of(_options.UnaryPayloadBytes);
        var frame = Frames.Encode(request);
        var lookup = new GetActionResultRequest { ActionDigest = Digests.Compute(Payloads.Raw(_options.UnaryPayloadBytes)) };
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
            (Grpc, () => async token =>
            {
                var response = await echo.EchoAsync(request, cancellationToken: token).ConfigureAwait(false);
                Check(response.Value.Length == request.Value.Length, "echo length");
            }),
            (RetryOn, () => async token =>
            {
                var response = await cache.GetActionResultAsync(lookup, cancellationToken: token).ConfigureAwait(false);
                Check(response.OutputFiles.Count == actionResult.OutputFiles.Count, "action result");
            }),
            (RetryOff, () => async token =>
            {
                var response = await cacheNoRetry.GetActionResultAsync(lookup, cancellationToken: token).ConfigureAwait(false);
                Check(response.OutputFiles.Count == actionResult.OutputFiles.Count, "action result");
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
            var messages = (int)Math.Clamp(_options.StreamCallBytes / messageBytes, 1, Payloads.MaxStreamMessages);
            var streamBuffer = new byte[1024 * 1024];
            var streamFrameBytes = Frames.HeaderBytes + Payloads.Of(messageBytes).CalculateSize();
            var streamSides = new (string Name, Func<CancellationToken, Task<long>> Call)[]
            {
                (Bare, async token =>
                {
                    var received = await bareClient.DownloadAsync(messages, messageBytes, streamBuffer, token).ConfigureAwait(false);
                    Check(received == (long)messages * streamFrameBytes, "bare stream length");
                    return (long)messages * messageBytes;
                }),
                (PooledCopy, token => DownloadAsync(echo, messages, messageBytes, BufferMode.PooledCopy, token)),
                (PooledWrap, token => DownloadAsync(echo, messages, messageBytes, BufferMode.PooledWrap, token)),
                (FreshWrap, token => DownloadAsync(echo, messages, messageBytes, BufferMode.FreshWrap, token)),
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
            foreach (var (name, newCaller) in sides[..2])
            {
                sampler.Start();
                Report(await _driver.ConcurrentAsync(name, newCaller, _options.Callers, round, _options.MaxCallsPerRound, cancellationToken).ConfigureAwait(false), "profile (sampled, slower)");
                _profiles[name] = sampler.Stop(top: 20);
            }
        }

        return new RpcReport(_options, _latency, _throughput, _streaming, _profiles);
    }

    /// <summary>An ActionResult shaped like a small compile's: three output files, stdout and stderr digests, metadata.</summary>
    private static ActionResult ActionResultOfTypicalSize()
    {
        var result = new ActionResult
        {
            ExitCode = 0,
            StdoutDigest = Digests.Compute(Payloads.Raw(100)),
            StderrDigest = Digests.Empty,
            ExecutionMetadata = new ExecutedActionMetadata { Worker = "bench" },
        };
        for (var i = 1; i <= 3; i++)
        {
            result.OutputFiles.Add(new OutputFile { Path = $"bazel-out/k8-fastbuild/bin/lib/obj{i}.o", Digest = Digests.Compute(Payloads.Raw(1000 * i)) });
        }

        return result;
    }

    private static async Task<long> DownloadAsync(Wire.Bench.BenchClient client, int messages, int messageBytes, BufferMode mode, CancellationToken cancellationToken)
    {
        using var call = client.Download(new DownloadRequest { Messages = messages, MessageBytes = messageBytes, Mode = mode }, cancellationToken: cancellationToken);
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
            $"{phase,-26} {result.Side,-50} calls {result.Calls,8} in {result.Elapsed.TotalSeconds,5:0.00}s  {result.CallsPerSecond,9:0} calls/s  p50 {result.P50Us,7:0.0}us p99 {result.P99Us,7:0.0}us  {result.MegabytesPerSecond,7:0} MB/s  {result.AllocatedBytesPerCall,9:0} B/call  gen0 {result.Gen0Collections} gen2 {result.Gen2Collections}"));
        return result;
    }
}
