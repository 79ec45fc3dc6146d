namespace RaftHead.Rpc.Server;

/// <summary>One service's methods bound to handlers; build with <see cref="ServiceBuilder"/>.</summary>
public sealed class ServiceDefinition
{
    internal ServiceDefinition(string serviceName, IReadOnlyList<ServerMethod> methods)
    {
        ServiceName = serviceName;
        Methods = methods;
    }

    public string ServiceName { get; }

    internal IReadOnlyList<ServerMethod> Methods { get; }
}
