using System.Collections.Concurrent;
using System.Diagnostics.Tracing;

namespace RaftHead.Bench;

/// <summary>
/// A poor man's allocation profiler: the runtime's GCAllocationTick event fires about every 100 KB allocated and
/// names the type that crossed the threshold, so summing the ticks by type approximates where the bytes go.
/// </summary>
internal sealed class AllocationSampler : EventListener
{
    private const int AllocationTickEventId = 10;
    private const EventKeywords GcKeyword = (EventKeywords)0x1;

    private readonly ConcurrentDictionary<string, long> _bytesByType = new(StringComparer.Ordinal);
    private volatile bool _recording;

    public void Start()
    {
        _bytesByType.Clear();
        _recording = true;
    }

    public IReadOnlyList<KeyValuePair<string, long>> Stop(int top)
    {
        _recording = false;
        return _bytesByType.OrderByDescending(p => p.Value).Take(top).ToArray();
    }

    protected override void OnEventSourceCreated(EventSource eventSource)
    {
        if (eventSource.Name == "Microsoft-Windows-DotNETRuntime")
        {
            EnableEvents(eventSource, EventLevel.Verbose, GcKeyword);
        }
    }

    protected override void OnEventWritten(EventWrittenEventArgs eventData)
    {
        if (!_recording || eventData.EventId != AllocationTickEventId || eventData.Payload is null || eventData.PayloadNames is null)
        {
            return;
        }

        string? typeName = null;
        long amount = 0;
        for (var i = 0; i < eventData.PayloadNames.Count; i++)
        {
            switch (eventData.PayloadNames[i])
            {
                case "TypeName":
                    typeName = eventData.Payload[i] as string;
                    break;
                case "AllocationAmount64":
                    amount = Convert.ToInt64(eventData.Payload[i], System.Globalization.CultureInfo.InvariantCulture);
                    break;
            }
        }

        if (typeName is not null)
        {
            _bytesByType.AddOrUpdate(typeName, amount, (_, total) => total + amount);
        }
    }
}
