using RaftHead.Protocol.V1;

namespace RaftHead.Head.Frontend;

/// <summary>
/// Input bytes of an operation each worker already holds, for one placement pass: the operation's input hints (its
/// largest files, named at submit) looked up in the <see cref="BlobDirectory"/>. Computed once per operation per pass,
/// so scoring every candidate worker costs one dictionary lookup each.
/// </summary>
public sealed class LocalityScores
{
    private readonly BlobDirectory _directory;
    private readonly Dictionary<string, Dictionary<string, long>?> _byOperation = new(StringComparer.Ordinal);
    private readonly List<string> _holders = new();

    private LocalityScores(BlobDirectory directory) => _directory = directory;

    /// <summary>The scoring function for <see cref="Scheduling.Placement.Plan"/>, or null when no worker reported any blob.</summary>
    public static Func<OperationState, string, long>? For(BlobDirectory directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        return directory.IsEmpty ? null : new LocalityScores(directory).BytesOn;
    }

    private long BytesOn(OperationState operation, string workerId)
    {
        if (operation.InputHints.Count == 0)
        {
            return 0;
        }

        if (!_byOperation.TryGetValue(operation.Name, out var perWorker))
        {
            perWorker = Compute(operation);
            _byOperation[operation.Name] = perWorker;
        }

        return perWorker is not null && perWorker.TryGetValue(workerId, out var bytes) ? bytes : 0;
    }

    private Dictionary<string, long>? Compute(OperationState operation)
    {
        Dictionary<string, long>? perWorker = null;
        foreach (var hint in operation.InputHints)
        {
            _holders.Clear();
            _directory.HoldersOf(hint, _holders);
            foreach (var worker in _holders)
            {
                perWorker ??= new Dictionary<string, long>(StringComparer.Ordinal);
                perWorker[worker] = (perWorker.TryGetValue(worker, out var sum) ? sum : 0) + hint.SizeBytes;
            }
        }

        return perWorker;
    }
}
