using Build.Bazel.Remote.Execution.V2;
using Grpc.Core;
using RaftHead.Head.Frontend;

namespace RaftHead.Head.Tests.Frontend;

public sealed class ResourcePropertiesTests
{
    [Theory]
    [InlineData("2", 2000u)]
    [InlineData("0.5", 500u)]
    [InlineData("0.125", 125u)]
    [InlineData("250m", 250u)]
    [InlineData("0", 0u)]
    public void Cpu_is_read_in_cores_or_millicores(string text, uint millis) => Assert.Equal(millis, ResourceProperties.ParseCpu(text));

    [Theory]
    [InlineData("0.0001")]
    [InlineData("-1")]
    [InlineData("1e3")]
    [InlineData("two")]
    [InlineData("m")]
    [InlineData("")]
    [InlineData("5000000")]
    public void Cpu_text_that_is_not_an_amount_is_refused(string text) => Assert.Null(ResourceProperties.ParseCpu(text));

    [Theory]
    [InlineData("1048576", 1048576UL)]
    [InlineData("512MiB", 512UL << 20)]
    [InlineData("1Gi", 1UL << 30)]
    [InlineData("4G", 4_000_000_000UL)]
    [InlineData("4 gb", 4_000_000_000UL)]
    [InlineData("100B", 100UL)]
    public void Memory_is_read_in_bytes_with_binary_or_decimal_units(string text, ulong bytes) => Assert.Equal(bytes, ResourceProperties.ParseMemory(text));

    [Theory]
    [InlineData("1.5G")]
    [InlineData("12XB")]
    [InlineData("GiB")]
    [InlineData("-5")]
    [InlineData("99999999999999999999")]
    [InlineData("20000000TiB")]
    public void Memory_text_that_is_not_an_amount_is_refused(string text) => Assert.Null(ResourceProperties.ParseMemory(text));

    [Fact]
    public void Resources_leave_the_platform_and_the_other_properties_keep_their_order()
    {
        var platform = Platform(("OSFamily", "Linux"), ("min-cores", "4"), ("pool", "big"), ("gpu", "2"), ("min-mem", "1Gi"));
        var (matching, resources) = ResourceProperties.Split(platform, "action.platform");
        Assert.Equal(["OSFamily", "pool"], matching.Properties.Select(p => p.Name));
        Assert.Equal(4000u, resources.CpuMillis);
        Assert.Equal(2000u, resources.GpuMillis);
        Assert.Equal(1UL << 30, resources.MemoryBytes);
    }

    [Fact]
    public void A_platform_without_resources_is_kept_as_it_is()
    {
        var platform = Platform(("OSFamily", "Linux"));
        var (matching, resources) = ResourceProperties.Split(platform, "action.platform");
        Assert.Same(platform, matching);
        Assert.Equal(0u, resources.CpuMillis + resources.GpuMillis);
    }

    [Fact]
    public void A_resource_given_twice_is_invalid_argument_naming_both()
    {
        var error = Assert.Throws<RpcException>(() => ResourceProperties.Split(Platform(("cpu", "1"), ("min-cores", "2")), "command.platform"));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("command.platform", error.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("cpu and min-cores", error.Status.Detail, StringComparison.Ordinal);
    }

    private static Platform Platform(params (string Name, string Value)[] properties)
    {
        var platform = new Platform();
        foreach (var (name, value) in properties)
        {
            platform.Properties.Add(new Platform.Types.Property { Name = name, Value = value });
        }

        return platform;
    }
}
