using System.Buffers.Binary;
using Build.Bazel.Remote.Execution.V2;
using RaftHead.Storage;

namespace RaftHead.Bench.Storage;

/// <summary>Many distinct 16-byte blobs (salt, index), made on the fly so that none of them is held while stored.</summary>
internal static class TinyBlobs
{
    public const int SizeBytes = 16;

    public static byte[] Data(long salt, long index)
    {
        var data = new byte[SizeBytes];
        BinaryPrimitives.WriteInt64LittleEndian(data, salt);
        BinaryPrimitives.WriteInt64LittleEndian(data.AsSpan(8), index);
        return data;
    }

    public static Digest Digest(long salt, long index) => BlobSet.DigestOf(Data(salt, index));

    /// <summary>
    /// Stores blobs 0..count-1 with <paramref name="writers"/> in flight, stopping early at <paramref name="deadline"/>.
    /// Returns how many were stored (always a prefix 0..n-1). Progress every 15 s.
    /// </summary>
    public static async Task<long> PutAsync(FasterBlobStore store, long salt, long count, int writers, TimeSpan deadline, TextWriter progress, CancellationToken cancellationToken)
    {
        long next = -1;
        long done = 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var ticker = new Timer(_ => progress.WriteLine(FormattableString.Invariant($"  ... {Interlocked.Read(ref done):N0} of {count:N0} stored after {clock.Elapsed.TotalSeconds:0} s")), null, TimeSpan.FromSeconds(15), TimeSpan.FromSeconds(15));
        var tasks = new Task[writers];
        for (var w = 0; w < writers; w++)
        {
            tasks[w] = Task.Run(
                async () =>
                {
                    while (clock.Elapsed < deadline)
                    {
                        var i = Interlocked.Increment(ref next);
                        if (i >= count)
                        {
                            break;
                        }

                        var data = Data(salt, i);
                        await store.PutAsync(CasPhase.Instance, BlobSet.DigestOf(data), data, cancellationToken).ConfigureAwait(false);
                        Interlocked.Increment(ref done);
                    }
                },
                cancellationToken);
        }

        await Task.WhenAll(tasks).ConfigureAwait(false);
        return Interlocked.Read(ref done);
    }
}
