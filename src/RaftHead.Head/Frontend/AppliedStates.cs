using RaftHead.Head.Scheduling;

namespace RaftHead.Head.Frontend;

/// <summary>The one loop behind the frontend's watchers: each looks at every applied state, on its own task.</summary>
internal static class AppliedStates
{
    /// <summary>
    /// Calls <paramref name="look"/> with the current state and then with each new one the log applies (pulses are
    /// coalesced, so a look may skip states between), until <paramref name="stopping"/>.
    /// </summary>
    public static async Task FollowAsync(ISchedulerLog log, Action<SchedulerState> look, CancellationToken stopping)
    {
        SchedulerState? seen = null;
        while (!stopping.IsCancellationRequested)
        {
            // Taken before the state is read, so an apply between the two is not missed.
            var changed = log.Changes.Next;
            var state = log.Current;
            if (!ReferenceEquals(state, seen))
            {
                look(state);
                seen = state;
            }

            try
            {
                await changed.WaitAsync(stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
        }
    }
}
