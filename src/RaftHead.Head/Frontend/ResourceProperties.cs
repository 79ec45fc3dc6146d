using System.Globalization;
using Build.Bazel.Remote.Execution.V2;
using RaftHead.Head.Reapi;
using RaftHead.Head.Scheduling;
using RaftHead.Protocol.V1;

namespace RaftHead.Head.Frontend;

/// <summary>
/// Resource requests in an action's platform: <c>cpu</c> (cores: "2", "0.5", or millicores "500m"), <c>memory</c> (bytes,
/// with an optional unit: "512MiB", "4G", "1Gi") and <c>gpu</c> (a share of one device, 0.1–0.9, or 1–8 whole devices).
/// Buildfarm's <c>min-cores</c> and <c>min-mem</c> are read as <c>cpu</c> and <c>memory</c>. These properties size the
/// placement; they are not matched against the properties a worker offers, so they leave the platform the queues use.
/// </summary>
public static class ResourceProperties
{
    public const string Cpu = "cpu";
    public const string Memory = "memory";
    public const string Gpu = "gpu";

    private static readonly (string Unit, ulong Bytes)[] MemoryUnits =
    [
        ("kib", 1UL << 10), ("mib", 1UL << 20), ("gib", 1UL << 30), ("tib", 1UL << 40),
        ("ki", 1UL << 10), ("mi", 1UL << 20), ("gi", 1UL << 30), ("ti", 1UL << 40),
        ("kb", 1_000UL), ("mb", 1_000_000UL), ("gb", 1_000_000_000UL), ("tb", 1_000_000_000_000UL),
        ("k", 1_000UL), ("m", 1_000_000UL), ("g", 1_000_000_000UL), ("t", 1_000_000_000_000UL),
        ("b", 1UL),
    ];

    /// <summary>
    /// Splits <paramref name="platform"/> into the properties a worker must offer and the resources the action needs.
    /// Throws INVALID_ARGUMENT naming <paramref name="field"/>, the property and what is allowed, for a value that does
    /// not parse, a GPU amount that is not allowed, or a resource given twice.
    /// </summary>
    public static (Platform Matching, ResourceRequest Resources) Split(Platform platform, string field)
    {
        ArgumentNullException.ThrowIfNull(platform);
        var resources = new ResourceRequest();
        Platform? matching = null;
        string? cpuFrom = null;
        string? memoryFrom = null;
        string? gpuFrom = null;
        foreach (var property in platform.Properties)
        {
            var name = property.Name;
            var value = property.Value.Trim();
            switch (name)
            {
                case Cpu or "min-cores":
                    Once(ref cpuFrom, name, field);
                    resources.CpuMillis = ParseCpu(value) ?? throw Invalid(field, name, property.Value, "a number of cores such as 2 or 0.5 (at most three decimals), or millicores such as 500m");
                    break;
                case Memory or "min-mem":
                    Once(ref memoryFrom, name, field);
                    resources.MemoryBytes = ParseMemory(value) ?? throw Invalid(field, name, property.Value, "bytes, optionally with a unit: 1073741824, 512MiB, 4G, 1Gi");
                    break;
                case Gpu:
                    Once(ref gpuFrom, name, field);
                    if (!GpuRequest.TryParse(value, out var millis) || !GpuRequest.IsAllowed(millis))
                    {
                        throw Invalid(field, name, property.Value, GpuRequest.AllowedValues);
                    }

                    resources.GpuMillis = millis;
                    break;
                default:
                    continue;
            }

            matching ??= WithoutResources(platform);
        }

        return (matching ?? platform, resources);
    }

    private static Platform WithoutResources(Platform platform)
    {
        var copy = new Platform();
        foreach (var property in platform.Properties)
        {
            if (!IsResource(property.Name))
            {
                copy.Properties.Add(property);
            }
        }

        return copy;
    }

    public static bool IsResource(string name) => name is Cpu or Memory or Gpu or "min-cores" or "min-mem";

    /// <summary>Millicores from "2", "0.25" or "250m"; null when the text is none of these or too large.</summary>
    public static uint? ParseCpu(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.EndsWith('m'))
        {
            return uint.TryParse(text.AsSpan(0, text.Length - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var milli) ? milli : null;
        }

        if (!decimal.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var cores))
        {
            return null;
        }

        var scaled = cores * 1000;
        return scaled == decimal.Truncate(scaled) && scaled <= uint.MaxValue ? (uint)scaled : null;
    }

    /// <summary>Bytes from a whole number with an optional unit (binary KiB/Ki..., decimal KB/K...); null otherwise.</summary>
    public static ulong? ParseMemory(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var digits = 0;
        while (digits < text.Length && char.IsAsciiDigit(text[digits]))
        {
            digits++;
        }

        if (digits == 0 || !ulong.TryParse(text.AsSpan(0, digits), NumberStyles.None, CultureInfo.InvariantCulture, out var number))
        {
            return null;
        }

        var unit = text.AsSpan(digits).Trim();
        if (unit.IsEmpty)
        {
            return number;
        }

        foreach (var (name, bytes) in MemoryUnits)
        {
            if (unit.Equals(name, StringComparison.OrdinalIgnoreCase))
            {
                return number <= ulong.MaxValue / bytes ? number * bytes : null;
            }
        }

        return null;
    }

    /// <summary>True when an idle worker of this size could take the request (its totals, not what it has free now).</summary>
    public static bool CouldEverFit(WorkerState worker, ResourceRequest resources)
    {
        ArgumentNullException.ThrowIfNull(worker);
        ArgumentNullException.ThrowIfNull(resources);
        return Capacity.TryFit(worker, WorkerUsage.For(worker.Gpus), resources) is not null;
    }

    /// <summary>The request as the properties that ask for it ("cpu=1.5,gpu=0.5"), for error messages.</summary>
    public static string Describe(ResourceRequest resources)
    {
        ArgumentNullException.ThrowIfNull(resources);
        var parts = new List<string>(3);
        if (resources.CpuMillis > 0)
        {
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"{Cpu}={resources.CpuMillis / 1000m:0.###}"));
        }

        if (resources.MemoryBytes > 0)
        {
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"{Memory}={resources.MemoryBytes}"));
        }

        if (resources.GpuMillis > 0)
        {
            parts.Add(Gpu + "=" + GpuRequest.Format(resources.GpuMillis));
        }

        return string.Join(",", parts);
    }

    private static void Once(ref string? seen, string name, string field)
    {
        if (seen is not null)
        {
            throw ReapiErrors.InvalidArgument(field, $"the resource is given twice ({seen} and {name}); give it once");
        }

        seen = name;
    }

    private static Grpc.Core.RpcException Invalid(string field, string name, string value, string allowed) =>
        ReapiErrors.InvalidArgument(field, $"property {name}={value} is not a resource amount this server reads; allowed: {allowed}");
}
