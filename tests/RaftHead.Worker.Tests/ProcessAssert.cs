namespace RaftHead.Worker.Tests;

internal static class ProcessAssert
{
    /// <summary>A SIGKILLed process is gone once it no longer exists or is only a zombie awaiting its reaper.</summary>
    public static async Task GoneAsync(int pid)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            string? text = null;
            try
            {
                text = await File.ReadAllTextAsync($"/proc/{pid}/stat");
            }
            catch (IOException)
            {
            }

            if (text is null || text[(text.LastIndexOf(')') + 2)..].StartsWith('Z'))
            {
                return;
            }

            Assert.True(DateTime.UtcNow < deadline, $"process {pid} survived: {text}");
            await Task.Delay(20);
        }
    }
}
