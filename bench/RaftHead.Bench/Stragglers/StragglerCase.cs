using RaftHead.Head.Scheduling;

namespace RaftHead.Bench.Stragglers;

/// <summary>One configuration: how many normal workers, whether the slow one is there, and the head's speculation settings.</summary>
internal sealed record StragglerCase(char Letter, string Title, int NormalWorkers, bool Slow, SpeculationOptions Speculation)
{
    public int Workers => NormalWorkers + (Slow ? 1 : 0);

    /// <summary>The five cases, in the order they run within a round.</summary>
    public static IReadOnlyList<StragglerCase> All(StragglerOptions options) =>
    [
        new('a', "4 normal workers (no straggler)", 4, false, new SpeculationOptions { Enabled = false }),
        new('b', "3 normal workers (slow one absent)", 3, false, new SpeculationOptions { Enabled = false }),
        new('c', "3 normal + 1 slow, speculation off", 3, true, new SpeculationOptions { Enabled = false }),
        new('d', "3 normal + 1 slow, speculation on (defaults)", 3, true, new SpeculationOptions()),
        new('e', $"3 normal + 1 slow, speculation on, FloorMs={options.LowFloorMs}", 3, true, new SpeculationOptions { FloorMs = options.LowFloorMs }),
    ];
}
