using System.Collections.Concurrent;
using Grpc.Core;
using Grpc.Core.Interceptors;
using RaftHead.Protocol.Client;

namespace RaftHead.Storage.Remote;

/// <summary>
/// The heads a worker may talk to and the one it talks to now. Any replica serves the worker protocol and the CAS,
/// so when the current head answers UNAVAILABLE a call moves on: to the leader the head named in the
/// <see cref="Protocol.LeaderHint"/> trailer, else to the next endpoint; at once while some head is untried, then after a
/// jittered exponential backoff, until the call's budget is spent. Channels come from the caller's pool, which should
/// not retry on its own (<see cref="ChannelSettings"/>): retrying the same dead head only delays moving on.
/// </summary>
public sealed class HeadConnection
{
    private readonly string[] _endpoints;
    private readonly GrpcChannels _channels;
    private readonly HeadConnectionOptions _options;
    private readonly TimeProvider _time;
    private readonly Random _random;
    private readonly Metadata? _headers;
    private readonly ConcurrentDictionary<string, CallInvoker> _invokers = new(StringComparer.Ordinal);
    private string _current;

    /// <param name="endpoints">Heads in order of preference (<c>host:port</c>, <c>grpc://</c>, <c>grpcs://</c>).</param>
    /// <param name="channels">The pool channels come from; its owner disposes it.</param>
    /// <param name="options">Budget and backoff.</param>
    /// <param name="time">The clock of budgets and backoff.</param>
    /// <param name="random">Jitter; seeded in tests.</param>
    /// <param name="headers">Request headers sent with every call (a head copying to a peer marks its calls so).</param>
    public HeadConnection(IReadOnlyList<string> endpoints, GrpcChannels channels, HeadConnectionOptions? options = null, TimeProvider? time = null, Random? random = null, Metadata? headers = null)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(channels);
        if (endpoints.Count == 0)
        {
            throw new ArgumentException("at least one head endpoint is needed", nameof(endpoints));
        }

        foreach (var endpoint in endpoints)
        {
            GrpcChannels.ParseEndpoint(endpoint);
        }

        _endpoints = endpoints.ToArray();
        _channels = channels;
        _options = options ?? new HeadConnectionOptions();
        _options.Validate();
        _time = time ?? TimeProvider.System;
        _random = random ?? Random.Shared;
        _headers = headers is { Count: > 0 } ? headers : null;
        _current = _endpoints[0];
    }

    /// <summary>Channel settings for a pool used through a connection: one attempt per call, the connection moves on itself.</summary>
    public static GrpcChannelSettings ChannelSettings { get; } = new() { RetryAttemptsMax = 1 };

    public IReadOnlyList<string> Endpoints => _endpoints;

    /// <summary>The head calls go to now.</summary>
    public string Current => Volatile.Read(ref _current);

    /// <summary>For a call that cannot be repeated elsewhere once started (a stream fed by its caller): the current head's.</summary>
    public CallInvoker CurrentInvoker => InvokerFor(Current);

    /// <summary>
    /// Runs <paramref name="call"/> against the current head, moving on while heads answer UNAVAILABLE. Any other
    /// outcome (success, another status, cancellation) ends it. Throws <see cref="HeadsUnavailableException"/> once the
    /// budget is spent. The call must be safe to repeat on another head.
    /// </summary>
    public async Task<T> CallAsync<T>(Func<CallInvoker, CancellationToken, Task<T>> call, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(call);
        var started = _time.GetTimestamp();
        var budget = TimeSpan.FromMilliseconds(_options.UnavailableBudgetMs);
        var failures = 0;
        var ceilingMs = (double)_options.BackoffInitialMs;
        while (true)
        {
            var endpoint = Current;
            try
            {
                return await call(InvokerFor(endpoint), cancellationToken).ConfigureAwait(false);
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Unavailable && !cancellationToken.IsCancellationRequested)
            {
                var waited = _time.GetElapsedTime(started);
                if (waited >= budget)
                {
                    throw new HeadsUnavailableException(_endpoints, waited, e);
                }

                Interlocked.CompareExchange(ref _current, LeaderHint(e, endpoint) ?? Next(endpoint), endpoint);
                if (++failures < _endpoints.Length)
                {
                    continue;
                }

                // Every head failed at least once: wait before the next round, never past the budget.
                double jittered;
                lock (_random)
                {
                    jittered = _random.NextDouble() * ceilingMs;
                }

                var wait = TimeSpan.FromMilliseconds(Math.Min(jittered, (budget - waited).TotalMilliseconds));
                ceilingMs = Math.Min(ceilingMs * 2, _options.BackoffMaxMs);
                await Task.Delay(wait, _time, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private CallInvoker InvokerFor(string endpoint) =>
        _invokers.GetOrAdd(endpoint, static (e, self) => self.CreateInvoker(e), this);

    private CallInvoker CreateInvoker(string endpoint)
    {
        var invoker = _channels.For(endpoint).CreateCallInvoker();
        if (_headers is not { } headers)
        {
            return invoker;
        }

        return invoker.Intercept(outgoing =>
        {
            foreach (var entry in headers)
            {
                outgoing.Add(entry);
            }

            return outgoing;
        });
    }

    private string Next(string endpoint)
    {
        var at = Array.IndexOf(_endpoints, endpoint);
        return _endpoints[(at + 1) % _endpoints.Length];
    }

    /// <summary>The leader a head named, if it is a well-formed endpoint other than the head that failed.</summary>
    private static string? LeaderHint(RpcException e, string failed)
    {
        var hint = Protocol.LeaderHint.From(e);
        if (string.IsNullOrWhiteSpace(hint) || string.Equals(hint, failed, StringComparison.Ordinal))
        {
            return null;
        }

        try
        {
            GrpcChannels.ParseEndpoint(hint);
            return hint;
        }
        catch (FormatException)
        {
            return null;
        }
    }
}
