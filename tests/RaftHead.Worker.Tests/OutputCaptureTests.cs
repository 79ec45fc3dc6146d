using RaftHead.Worker.Sandbox;

namespace RaftHead.Worker.Tests;

public sealed class OutputCaptureTests
{
    [Fact]
    public async Task Small_output_stays_in_memory_and_large_output_spills_whole_to_its_file()
    {
        var path = Path.Combine(Path.GetTempPath(), "rh-capture-" + Guid.NewGuid().ToString("N"));
        try
        {
            await using (var small = new OutputCapture(path, 1024))
            {
                await small.WriteAsync(new byte[100]);
                Assert.Equal(100, small.InMemory!.Value.Length);
                Assert.False(File.Exists(path));
            }

            var data = new byte[5000];
            new Random(1).NextBytes(data);
            await using (var large = new OutputCapture(path, 1024))
            {
                for (var i = 0; i < data.Length; i += 700)
                {
                    await large.WriteAsync(data.AsMemory(i, Math.Min(700, data.Length - i)));
                }

                Assert.Null(large.InMemory);
                await large.FlushAsync();
                Assert.Equal(data, await File.ReadAllBytesAsync(path));
            }
        }
        finally
        {
            File.Delete(path);
        }
    }
}
