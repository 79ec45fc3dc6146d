using Google.Protobuf;
using RaftHead.Head.Scheduling;
using RaftHead.Protocol.V1;

namespace RaftHead.Head.Tests.Scheduling;

/// <summary>
/// The driver cannot skip a committed entry, so no bytes may make the apply throw: a throw would stop the replica.
/// Mangled copies of plausible commands (bytes flipped, cut short, fields swapped in) are answered as results, and the
/// state keeps every invariant.
/// </summary>
public sealed class MangledCommandTests
{
    [Fact]
    public void Mangled_commands_are_answered_and_never_break_the_state()
    {
        var limits = new SchedulerLimits { UnfinishedOperationsMax = 30 };
        var answered = new Dictionary<SchedulerResultCode, int>();
        for (var seed = 0; seed < 20; seed++)
        {
            var random = new Random(seed);
            var stream = new RandomCommandStream(seed);
            var machine = new SchedulerStateMachine(limits);
            for (var index = 1; index <= 300; index++)
            {
                var bytes = stream.Next(machine.Current).ToByteArray();
                if (random.Next(3) == 0)
                {
                    bytes = Mangle(bytes, random);
                }

                SchedulerResult result;
                try
                {
                    result = SchedulerResult.Parser.ParseFrom(machine.Apply(index, bytes));
                }
                catch (Exception e)
                {
                    throw new Xunit.Sdk.XunitException($"seed {seed}, index {index}: apply threw on {Convert.ToHexString(bytes)}:\n{e}");
                }

                answered[result.Code] = answered.GetValueOrDefault(result.Code) + 1;
                var violation = SchedulerInvariants.Check(machine.Current, limits);
                Assert.True(violation is null, $"seed {seed}, index {index}: {violation}");
            }
        }

        Assert.True(answered.GetValueOrDefault(SchedulerResultCode.InvalidArgument) > 50);
        Assert.True(answered.GetValueOrDefault(SchedulerResultCode.Ok) > 500);
    }

    private static byte[] Mangle(byte[] bytes, Random random)
    {
        switch (random.Next(3))
        {
            case 0 when bytes.Length > 0:
                var flipped = (byte[])bytes.Clone();
                for (var i = random.Next(1, 4); i > 0; i--)
                {
                    flipped[random.Next(flipped.Length)] ^= (byte)(1 << random.Next(8));
                }

                return flipped;
            case 1 when bytes.Length > 1:
                return bytes[..random.Next(1, bytes.Length)];
            default:
                // A valid envelope carrying a fuzzed field set: protobuf accepts any field values.
                var command = SchedulerCommand.Parser.ParseFrom(bytes.Length > 0 ? bytes : new SchedulerCommand().ToByteArray());
                if (command.CommandCase == SchedulerCommand.CommandOneofCase.Submit)
                {
                    command.Submit.Resources = new ResourceRequest { CpuMillis = (uint)random.Next(), MemoryBytes = (ulong)random.NextInt64(), GpuMillis = (uint)random.Next(0, 10_000) };
                    command.Submit.Priority = random.Next(int.MinValue, int.MaxValue);
                }
                else if (command.CommandCase == SchedulerCommand.CommandOneofCase.RegisterWorker)
                {
                    command.RegisterWorker.Gpus = (uint)random.Next(0, 100);
                    command.RegisterWorker.Slots = (uint)random.Next(0, 2_000);
                }
                else if (command.CommandCase == SchedulerCommand.CommandOneofCase.AssignLeases && command.AssignLeases.Grants.Count > 0)
                {
                    command.AssignLeases.Grants[0].Attempt = (uint)random.Next(0, 5);
                    command.AssignLeases.Grants[0].ExpiresAtUnixMs = random.NextInt64(-1, 100_000);
                }

                return command.ToByteArray();
        }
    }
}
