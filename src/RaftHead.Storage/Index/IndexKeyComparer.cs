using FASTER.core;

namespace RaftHead.Storage.Index;

internal sealed class IndexKeyComparer : IFasterEqualityComparer<IndexKey>
{
    public static readonly IndexKeyComparer Instance = new();

    public long GetHashCode64(ref IndexKey k) => k.Hash64();

    public bool Equals(ref IndexKey k1, ref IndexKey k2) => k1.Equals(k2);
}
