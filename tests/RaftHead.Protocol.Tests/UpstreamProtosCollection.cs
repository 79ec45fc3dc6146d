namespace RaftHead.Protocol.Tests;

/// <summary>Shares one compilation of the upstream protos between the test classes that need it.</summary>
[CollectionDefinition(Name)]
public sealed class UpstreamProtosCollection : ICollectionFixture<UpstreamProtosFixture>
{
    public const string Name = "Upstream protos";
}
