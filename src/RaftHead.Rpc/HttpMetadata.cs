using System.Net.Http.Headers;
using Microsoft.AspNetCore.Http;

namespace RaftHead.Rpc;

/// <summary>Moves custom metadata between our <see cref="Metadata"/> and HTTP header collections.</summary>
internal static class HttpMetadata
{
    public static Metadata FromRequest(IHeaderDictionary headers)
    {
        var metadata = new Metadata();
        foreach (var (key, values) in headers)
        {
            if (GrpcProtocol.IsReservedHeader(key))
            {
                continue;
            }

            AddValues(metadata, key, values);
        }

        return metadata;
    }

    public static void CopyTo(Metadata metadata, IHeaderDictionary headers)
    {
        foreach (var entry in metadata)
        {
            var value = entry.IsBinary ? GrpcProtocol.EncodeBinaryValue(entry.BinaryValue) : entry.TextValue!;
            headers.Append(entry.Key, value);
        }
    }

    public static void CopyTo(Metadata metadata, HttpHeaders headers)
    {
        foreach (var entry in metadata)
        {
            var value = entry.IsBinary ? GrpcProtocol.EncodeBinaryValue(entry.BinaryValue) : entry.TextValue!;
            headers.TryAddWithoutValidation(entry.Key, value);
        }
    }

    public static Metadata FromResponse(HttpHeaders headers)
    {
        var metadata = new Metadata();
        foreach (var (key, values) in headers)
        {
            var lower = key.ToLowerInvariant();
            if (GrpcProtocol.IsReservedHeader(lower) || lower is "date" or "server")
            {
                continue;
            }

            foreach (var value in values)
            {
                AddValue(metadata, lower, value);
            }
        }

        return metadata;
    }

    private static void AddValues(Metadata metadata, string key, Microsoft.Extensions.Primitives.StringValues values)
    {
        foreach (var value in values)
        {
            if (value is not null)
            {
                AddValue(metadata, key, value);
            }
        }
    }

    private static void AddValue(Metadata metadata, string key, string value)
    {
        if (Metadata.IsBinaryKey(key))
        {
            // Several binary values may arrive joined by commas in one header field.
            foreach (var part in value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                metadata.Add(key, GrpcProtocol.DecodeBinaryValue(part));
            }
        }
        else
        {
            metadata.Add(key, value);
        }
    }
}
