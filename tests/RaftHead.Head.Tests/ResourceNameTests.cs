using RaftHead.Head.Reapi;

namespace RaftHead.Head.Tests;

public sealed class ResourceNameTests
{
    private const string Hash = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    [Theory]
    [InlineData("blobs/" + Hash + "/3", "")]
    [InlineData("main/blobs/" + Hash + "/3", "main")]
    [InlineData("team/a/b/blobs/" + Hash + "/3", "team/a/b")]
    public void Read_names_give_instance_and_digest(string name, string instance)
    {
        Assert.True(ResourceName.TryParseRead(name, out var resource, out var error), error);
        Assert.Equal(instance, resource!.InstanceName);
        Assert.Equal(Hash, resource.Digest.Hash);
        Assert.Equal(3, resource.Digest.SizeBytes);
        Assert.False(resource.Compressed);
        Assert.Equal(name, resource.ToReadName());
    }

    [Theory]
    [InlineData("uploads/u-1/blobs/" + Hash + "/3", "", "u-1")]
    [InlineData("x/y/uploads/1234/blobs/" + Hash + "/3/some/metadata", "x/y", "1234")]
    public void Write_names_give_instance_upload_and_digest(string name, string instance, string upload)
    {
        Assert.True(ResourceName.TryParseWrite(name, out var resource, out var error), error);
        Assert.Equal(instance, resource!.InstanceName);
        Assert.Equal(upload, resource.UploadId);
        Assert.Equal(3, resource.Digest.SizeBytes);
    }

    [Fact]
    public void Compressed_blobs_are_recognised()
    {
        Assert.True(ResourceName.TryParseRead("i/compressed-blobs/zstd/" + Hash + "/3", out var resource, out _));
        Assert.True(resource!.Compressed);
    }

    [Theory]
    [InlineData("", "not of the form")]
    [InlineData("blobs/" + Hash, "lacks")]
    [InlineData("blobs/" + Hash + "/3/extra", "unexpected segments")]
    [InlineData("blobs/" + Hash + "/-3", "negative")]
    [InlineData("blobs/BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD/3", "uppercase")]
    [InlineData("blobs/abc/3", "64")]
    [InlineData("a//b/blobs/" + Hash + "/3", "instance name segment")]
    [InlineData("uploads/blobs/" + Hash + "/3", "instance name segment")]
    public void Malformed_read_names_are_refused_with_the_reason(string name, string reason)
    {
        Assert.False(ResourceName.TryParseRead(name, out _, out var error));
        Assert.Contains(reason, error, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData("blobs/" + Hash + "/3")]
    [InlineData("uploads//blobs/" + Hash + "/3")]
    [InlineData("uploads/u1/" + Hash + "/3")]
    public void Malformed_write_names_are_refused(string name)
    {
        Assert.False(ResourceName.TryParseWrite(name, out _, out _));
    }
}
