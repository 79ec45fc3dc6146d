namespace RaftHead.Protocol.Runner;

/// <summary>
/// Runs one REAPI action to completion: materialises its input root, runs its command in a sandbox, collects its
/// outputs into the CAS. The same runner serves <c>rh serve --exec</c> in-process and, later, every worker.
/// </summary>
public interface IActionRunner
{
    /// <summary>
    /// Never throws for a failure of the action itself (non-zero exit, timeout, missing input, bad output path):
    /// those come back in <see cref="ActionRunResult.Status"/>. Cancellation kills the action's whole process group
    /// and throws <see cref="OperationCanceledException"/>.
    /// </summary>
    Task<ActionRunResult> RunAsync(ActionRunRequest request, CancellationToken cancellationToken);
}
