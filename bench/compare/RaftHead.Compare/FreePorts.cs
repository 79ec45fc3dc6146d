using System.Net;
using System.Net.Sockets;

namespace RaftHead.Compare;

internal static class FreePorts
{
    /// <summary>Distinct free loopback ports chosen by the OS (they stay free in practice until a server binds them).</summary>
    public static int[] Take(int count)
    {
        var listeners = Enumerable.Range(0, count).Select(_ => new TcpListener(IPAddress.Loopback, 0)).ToList();
        try
        {
            foreach (var listener in listeners) listener.Start();
            return listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port).ToArray();
        }
        finally
        {
            foreach (var listener in listeners) listener.Stop();
        }
    }
}
