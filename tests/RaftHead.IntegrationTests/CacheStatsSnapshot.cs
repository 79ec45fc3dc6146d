using System.Text.Json;

namespace RaftHead.IntegrationTests;

/// <summary>The all-instances row of <c>rh cache stats --json</c>.</summary>
public sealed record CacheStatsSnapshot(long Hits, long Misses, long Incomplete, long ActionResults, long Blobs, long Bytes)
{
    public static CacheStatsSnapshot Parse(string json)
    {
        using var document = JsonDocument.Parse(json);
        foreach (var row in document.RootElement.GetProperty("instances").EnumerateArray())
        {
            if (row.GetProperty("instance").GetString() == "(all)")
            {
                return new CacheStatsSnapshot(
                    row.GetProperty("hits").GetInt64(),
                    row.GetProperty("misses").GetInt64(),
                    row.GetProperty("incomplete").GetInt64(),
                    row.GetProperty("action_results").GetInt64(),
                    row.GetProperty("blobs").GetInt64(),
                    row.GetProperty("bytes").GetInt64());
            }
        }

        throw new FormatException($"No \"(all)\" row in rh cache stats output:\n{json}");
    }
}
