using System.Security.Cryptography;
using Build.Bazel.Remote.Execution.V2;
using Google.ByteStream;
using Google.Protobuf;
using Grpc.Core;
using RaftHead.Protocol;

namespace RaftHead.Storage.Remote;

/// <summary>
/// A large blob streamed to one head over ByteStream Write, hashed on the way so a mismatch is caught here with its
/// reason. Dispose without commit abandons the upload.
/// </summary>
internal sealed class ByteStreamBlobWriter : IBlobWriter
{
    private readonly ByteStream.ByteStreamClient _client;
    private readonly Digest _digest;
    private readonly string _resource;
    private readonly int _chunkBytes;
    private readonly string _endpoint;
    private readonly IncrementalHash _sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private AsyncClientStreamingCall<WriteRequest, WriteResponse>? _call;
    private long _written;
    private bool _done;

    public ByteStreamBlobWriter(ByteStream.ByteStreamClient client, string instanceName, Digest digest, int chunkBytes, string endpoint)
    {
        _client = client;
        _digest = digest;
        var blob = $"uploads/{Guid.NewGuid():N}/blobs/{Digests.ToResourceString(digest)}";
        _resource = instanceName.Length == 0 ? blob : $"{instanceName}/{blob}";
        _chunkBytes = chunkBytes;
        _endpoint = endpoint;
    }

    public long BytesWritten => _written;

    public async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        if (_done)
        {
            throw new InvalidOperationException("blob already committed");
        }

        if (_written + data.Length > _digest.SizeBytes)
        {
            throw new BlobDigestMismatchException(_digest, "(more bytes than the digest's size)", _written + data.Length);
        }

        _sha.AppendData(data.Span);
        while (data.Length > 0)
        {
            var chunk = data[..Math.Min(_chunkBytes, data.Length)];
            await SendAsync(chunk, finish: false, cancellationToken).ConfigureAwait(false);
            data = data[chunk.Length..];
        }
    }

    public async ValueTask CommitAsync(CancellationToken cancellationToken)
    {
        if (_done)
        {
            return;
        }

        var hash = Convert.ToHexStringLower(_sha.GetHashAndReset());
        if (_written != _digest.SizeBytes || !string.Equals(hash, _digest.Hash, StringComparison.Ordinal))
        {
            throw new BlobDigestMismatchException(_digest, hash, _written);
        }

        await SendAsync(ReadOnlyMemory<byte>.Empty, finish: true, cancellationToken).ConfigureAwait(false);
        var call = _call!;
        try
        {
            await call.RequestStream.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception) when (call.ResponseAsync.IsCompleted)
        {
            // The head answered before the stream's end; its answer below says how it went.
        }

        var response = await call.ResponseAsync.WaitAsync(cancellationToken).ConfigureAwait(false);
        if (response.CommittedSize != _digest.SizeBytes)
        {
            throw new IOException($"head {_endpoint} committed {response.CommittedSize} of {_digest.SizeBytes} bytes of blob {_digest.Hash}");
        }

        _done = true;
    }

    public ValueTask DisposeAsync()
    {
        // Disposing an unfinished call cancels it: the head drops (or keeps for resumption) what it received.
        _call?.Dispose();
        _call = null;
        _sha.Dispose();
        return ValueTask.CompletedTask;
    }

    private async ValueTask SendAsync(ReadOnlyMemory<byte> chunk, bool finish, CancellationToken cancellationToken)
    {
        var request = new WriteRequest { WriteOffset = _written, Data = UnsafeByteOperations.UnsafeWrap(chunk), FinishWrite = finish };
        if (_call is null)
        {
            _call = _client.Write(cancellationToken: CancellationToken.None);
            request.ResourceName = _resource;
        }

        try
        {
            // The message is serialised before this completes, so the caller may reuse its buffer afterwards.
            await _call.RequestStream.WriteAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is RpcException or InvalidOperationException && _call.ResponseAsync.IsCompleted)
        {
            // The head ended the call early (an error, or it already holds the blob): its answer says which.
            var response = await _call.ResponseAsync.ConfigureAwait(false);
            if (response.CommittedSize == _digest.SizeBytes)
            {
                _written += chunk.Length;
                return;
            }

            throw;
        }

        _written += chunk.Length;
    }
}
