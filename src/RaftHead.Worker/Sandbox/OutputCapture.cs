namespace RaftHead.Worker.Sandbox;

/// <summary>
/// Collects a stream (an action's stdout or stderr) in memory, spilling to a file only past a bound: most actions
/// print little, and creating a file costs far more than holding a few kilobytes.
/// </summary>
public sealed class OutputCapture : Stream
{
    private readonly string _spillPath;
    private readonly int _memoryMaxBytes;
    private MemoryStream? _memory = new();
    private FileStream? _file;

    public OutputCapture(string spillPath, int memoryMaxBytes)
    {
        _spillPath = spillPath;
        _memoryMaxBytes = memoryMaxBytes;
    }

    /// <summary>The captured bytes when they stayed in memory, else null (then they are in <see cref="SpillPath"/>).</summary>
    public ReadOnlyMemory<byte>? InMemory
    {
        get
        {
            // Spelled out: a conditional with a bare null would turn it into an empty Memory via byte[].
            if (_memory is not { } memory)
            {
                return null;
            }

            return new ReadOnlyMemory<byte>(memory.GetBuffer(), 0, (int)memory.Length);
        }
    }

    public string SpillPath => _spillPath;

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => _memory?.Length ?? _file!.Length;

    public override long Position
    {
        get => Length;
        set => throw new NotSupportedException();
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        Target(buffer.Length).Write(buffer);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
        Target(buffer.Length).WriteAsync(buffer, cancellationToken);

    public override void Flush() => _file?.Flush();

    public override Task FlushAsync(CancellationToken cancellationToken) => _file?.FlushAsync(cancellationToken) ?? Task.CompletedTask;

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _file?.Dispose();
        }

        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        if (_file is not null)
        {
            await _file.DisposeAsync().ConfigureAwait(false);
        }

        await base.DisposeAsync().ConfigureAwait(false);
    }

    private Stream Target(int incoming)
    {
        if (_memory is { } memory && memory.Length + incoming > _memoryMaxBytes)
        {
            _file = new FileStream(_spillPath, FileMode.CreateNew, FileAccess.Write, FileShare.Read, 1 << 16, FileOptions.Asynchronous);
            _file.Write(memory.GetBuffer(), 0, (int)memory.Length);
            _memory = null;
        }

        return (Stream?)_memory ?? _file!;
    }
}
