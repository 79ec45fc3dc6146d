using RaftHead.Storage.Index;

namespace RaftHead.Storage;

/// <summary>One pin on one blob; disposing it (once or more) releases the pin.</summary>
internal sealed class BlobPin : IDisposable
{
    public static readonly IDisposable None = new BlobPin(null, default);

    private readonly FasterBlobStore? _store;
    private readonly IndexKey _key;
    private int _released;

    public BlobPin(FasterBlobStore? store, IndexKey key)
    {
        _store = store;
        _key = key;
    }

    public void Dispose()
    {
        if (_store is not null && Interlocked.Exchange(ref _released, 1) == 0)
        {
            _store.Unpin(_key);
        }
    }
}
