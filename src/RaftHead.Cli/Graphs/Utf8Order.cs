using System.Text;

namespace RaftHead.Cli.Graphs;

/// <summary>
/// REAPI's canonical order of Directory entries: by the bytes of their UTF-8 names. Ordinal UTF-16 order agrees except
/// for names with characters beyond the Basic Multilingual Plane, so the bytes are compared.
/// </summary>
internal sealed class Utf8Order : IComparer<string>
{
    public static readonly Utf8Order Instance = new();

    public int Compare(string? x, string? y)
    {
        if (x is null || y is null)
        {
            return x is null ? (y is null ? 0 : -1) : 1;
        }

        return Encoding.UTF8.GetBytes(x).AsSpan().SequenceCompareTo(Encoding.UTF8.GetBytes(y));
    }
}
