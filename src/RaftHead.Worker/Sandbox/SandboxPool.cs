using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace RaftHead.Worker.Sandbox;

/// <summary>
/// Empty action directories made ahead of time, and a cleaner that deletes used ones in the background, so
/// neither creating nor removing a sandbox sits on an action's critical path.
/// </summary>
public sealed class SandboxPool : IAsyncDisposable
{
    private readonly string _ready;
    private readonly string _trash;
    private readonly int _target;
    private readonly Channel<string> _available = Channel.CreateUnbounded<string>();
    private readonly Channel<string> _dirty = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _cleaner;
    private readonly ILogger _logger;
    private int _availableCount;

    public SandboxPool(string root, int target, ILogger? logger = null)
    {
        _ready = Path.Combine(root, "ready");
        _trash = Path.Combine(root, "trash");
        _target = Math.Max(1, target);
        _logger = logger ?? NullLogger.Instance;

        // Whatever a previous process left behind is garbage now.
        foreach (var leftover in new[] { _ready, _trash })
        {
            if (System.IO.Directory.Exists(leftover))
            {
                System.IO.Directory.Delete(leftover, recursive: true);
            }

            System.IO.Directory.CreateDirectory(leftover);
        }

        for (var i = 0; i < _target; i++)
        {
            AddFresh();
        }

        _cleaner = Task.Run(CleanAsync);
    }

    /// <summary>An empty directory owned by this pool until <see cref="Release"/>.</summary>
    public string Take()
    {
        if (_available.Reader.TryRead(out var directory))
        {
            Interlocked.Decrement(ref _availableCount);
            _dirty.Writer.TryWrite(""); // wake the cleaner to top the pool up
            return directory;
        }

        return CreateDirectory();
    }

    /// <summary>Gives a used directory back: it is moved aside at once and deleted in the background.</summary>
    public void Release(string directory)
    {
        var aside = Path.Combine(_trash, Guid.NewGuid().ToString("N"));
        System.IO.Directory.Move(directory, aside);
        _dirty.Writer.TryWrite(aside);
    }

    public async ValueTask DisposeAsync()
    {
        _dirty.Writer.TryComplete();
        await _cleaner.ConfigureAwait(false);
    }

    private void AddFresh()
    {
        _available.Writer.TryWrite(CreateDirectory());
        Interlocked.Increment(ref _availableCount);
    }

    private string CreateDirectory()
    {
        var path = Path.Combine(_ready, Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(path);
        return path;
    }

    private async Task CleanAsync()
    {
        await foreach (var dirty in _dirty.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            try
            {
                if (dirty.Length > 0)
                {
                    System.IO.Directory.Delete(dirty, recursive: true);
                }

                while (Volatile.Read(ref _availableCount) < _target)
                {
                    AddFresh();
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                _logger.LogWarning(e, "Could not clean sandbox {Directory}", dirty);
            }
        }
    }
}
