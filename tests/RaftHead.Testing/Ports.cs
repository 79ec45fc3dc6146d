using System.Net;
using System.Net.Sockets;

namespace RaftHead.Testing;

public static class Ports
{
    /// <summary>Distinct free loopback ports (the OS picks them; they stay free in practice until a node binds them).</summary>
    public static int[] Free(int count)
    {
        var listeners = Enumerable.Range(0, count).Select(_ => new TcpListener(IPAddress.Loopback, 0)).ToList();
        try
        {
            foreach (var l in listeners) l.Start();
            return listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port).ToArray();
        }
        finally
        {
            foreach (var l in listeners) l.Stop();
        }
    }
}
