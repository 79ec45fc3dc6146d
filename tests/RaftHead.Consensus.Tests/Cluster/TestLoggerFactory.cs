using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace RaftHead.Consensus.Tests.Cluster;

/// <summary>Routes logs to the test's output (kept when a test fails); silent once the test is over.</summary>
public sealed class TestLoggerFactory : ILoggerProvider
{
    private readonly ITestOutputHelper _output;
    private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();

    public TestLoggerFactory(ITestOutputHelper output) => _output = output;

    public static ILoggerFactory Create(ITestOutputHelper output) =>
        LoggerFactory.Create(logging => logging
            .SetMinimumLevel(LogLevel.Information)
            .AddFilter("Microsoft", LogLevel.Warning)
            .AddFilter("Grpc", LogLevel.Warning)
            .AddProvider(new TestLoggerFactory(output)));

    public ILogger CreateLogger(string categoryName) => new Logger(this);

    public void Dispose()
    {
    }

    private sealed class Logger(TestLoggerFactory owner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            try
            {
                owner._output.WriteLine($"{owner._clock.ElapsedMilliseconds,6}ms {logLevel,-11} {formatter(state, exception)}{(exception is null ? "" : " " + exception.GetType().Name + ": " + exception.Message)}");
            }
            catch (InvalidOperationException)
            {
                // The test is over: there is nowhere left to write.
            }
        }
    }
}
