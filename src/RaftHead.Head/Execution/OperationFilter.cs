using Build.Bazel.Remote.Execution.V2;
using RaftHead.Head.Reapi;

namespace RaftHead.Head.Execution;

/// <summary>
/// The ListOperations filter this server understands: empty (everything), <c>stage=QUEUED</c> (several stages
/// comma-separated, names as in ExecutionStage, any case), or <c>done=true</c> / <c>done=false</c>.
/// </summary>
internal sealed record OperationFilter(IReadOnlySet<ExecutionStage.Types.Value>? Stages, bool? Done)
{
    public static readonly OperationFilter All = new(null, null);

    public static OperationFilter Parse(string filter)
    {
        var text = filter.Trim();
        if (text.Length == 0)
        {
            return All;
        }

        var equals = text.IndexOf('=', StringComparison.Ordinal);
        var key = equals < 0 ? text : text[..equals].Trim();
        var value = equals < 0 ? "" : text[(equals + 1)..].Trim();
        if (key.Equals("stage", StringComparison.OrdinalIgnoreCase) && value.Length > 0)
        {
            var stages = new HashSet<ExecutionStage.Types.Value>();
            foreach (var name in value.Split(',', StringSplitOptions.TrimEntries))
            {
                if (!TryParseStage(name, out var stage))
                {
                    throw ReapiErrors.InvalidArgument("filter", $"'{name}' is not a stage; use QUEUED, EXECUTING, COMPLETED or CACHE_CHECK");
                }

                stages.Add(stage);
            }

            return new OperationFilter(stages, null);
        }

        if (key.Equals("done", StringComparison.OrdinalIgnoreCase) && bool.TryParse(value, out var done))
        {
            return new OperationFilter(null, done);
        }

        throw ReapiErrors.InvalidArgument("filter", $"'{filter}' is not understood; use 'stage=QUEUED' (comma-separated stages) or 'done=true'");
    }

    public bool Matches(ExecutionStage.Types.Value stage, bool done) =>
        (Stages is null || Stages.Contains(stage)) && (Done is null || Done == done);

    private static bool TryParseStage(string name, out ExecutionStage.Types.Value stage)
    {
        var normalized = name.Replace("_", "", StringComparison.Ordinal);
        foreach (var candidate in Enum.GetValues<ExecutionStage.Types.Value>())
        {
            if (candidate.ToString().Equals(normalized, StringComparison.OrdinalIgnoreCase))
            {
                stage = candidate;
                return true;
            }
        }

        stage = default;
        return false;
    }
}
