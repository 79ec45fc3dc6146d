using System.Security.Cryptography;

namespace RaftHead.Worker.Agent;

/// <summary>
/// The worker's id, kept in its data directory so a restarted worker re-joins as itself (the head tells a restart from
/// a new machine by it; the incarnation tells a restart from a reconnect).
/// </summary>
public static class WorkerIdentity
{
    public const string FileName = "worker-id";

    /// <summary>The id stored under <paramref name="dataDirectory"/>, made (host name and a random suffix) on first use.</summary>
    public static string LoadOrCreate(string dataDirectory)
    {
        Directory.CreateDirectory(dataDirectory);
        var path = Path.Combine(dataDirectory, FileName);
        if (File.Exists(path))
        {
            var stored = File.ReadAllText(path).Trim();
            if (stored.Length > 0)
            {
                return stored;
            }
        }

        var id = $"{Environment.MachineName}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}";
        var temp = path + ".tmp";
        File.WriteAllText(temp, id + "\n");
        File.Move(temp, path, overwrite: true);
        return id;
    }

    /// <summary>A fresh value per process start.</summary>
    public static string NewIncarnation() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
}
