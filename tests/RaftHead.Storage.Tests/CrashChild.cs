using Build.Bazel.Remote.Execution.V2;
using static RaftHead.Storage.Tests.TestBlobs;

namespace RaftHead.Storage.Tests;

/// <summary>
/// The child side of the kill test: writes blobs from several writers as fast as it can, with frequent
/// checkpoints, and prints "ACK seed size" once each write is acknowledged. The parent kills it at a
/// random moment and checks that every acknowledged blob survived.
/// </summary>
internal static class CrashChild
{
    public static async Task IngestUntilKilledAsync(string directory)
    {
        FasterBlobStoreOptions options = Options(directory, segmentBytes: 64 << 10) with { CheckpointIntervalMs = 50 };
        FasterBlobStore store = await OpenAsync(options);
        var output = TextWriter.Synchronized(Console.Out);
        var writers = new Task[4];
        for (int w = 0; w < writers.Length; w++)
        {
            int writer = w;
            writers[w] = Task.Run(async () =>
            {
                for (int i = 0; ; i++)
                {
                    int seed = (writer * 1_000_000) + i;
                    int size = SizeFor(seed);
                    (byte[] data, Digest digest) = Make(seed, size);
                    if (i % 2 == 0)
                    {
                        await store.PutAsync("", digest, data, CancellationToken.None);
                    }
                    else
                    {
                        await WriteStreamedAsync(store, "", digest, data, 3000);
                    }

                    output.WriteLine($"ACK {seed} {size}");
                    output.Flush();
                }
            });
        }

        await Task.WhenAll(writers);
    }

    public static int SizeFor(int seed) => seed % 5 == 0 ? 20_000 + (seed % 7919) : 1 + (seed % 3000);
}
