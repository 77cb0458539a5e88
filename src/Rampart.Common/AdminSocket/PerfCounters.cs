using System.Text.Json;

namespace Rampart.Common.AdminSocket;

/// <summary>
/// One named set of counters as `perf dump` prints it (Ceph's PerfCounters): plain 64-bit counters, time averages
/// printed as <c>{"avgcount", "sum", "avgtime"}</c> in seconds, and gauges read when dumped. Every counter is added
/// before the set is published in a <see cref="PerfRegistry"/>; updating is lock-free.
/// </summary>
public sealed class PerfCounters(string name)
{
    private readonly List<(string Key, Action<Utf8JsonWriter> Write)> _entries = [];

    public string Name { get; } = name;

    public PerfCounter Counter(string key)
    {
        var counter = new PerfCounter();
        _entries.Add((key, w => w.WriteNumber(key, counter.Value)));
        return counter;
    }

    public PerfTime Time(string key)
    {
        var time = new PerfTime();
        _entries.Add((key, w =>
        {
            var (count, sum) = time.Read();
            w.WriteStartObject(key);
            w.WriteNumber("avgcount", count);
            w.WriteNumber("sum", Math.Round(sum, 9));
            w.WriteNumber("avgtime", count == 0 ? 0 : Math.Round(sum / count, 9));
            w.WriteEndObject();
        }));
        return time;
    }

    /// <summary>A value owned elsewhere (bytes dirty now, connections open), read at each dump.</summary>
    public void Gauge(string key, Func<long> read) => _entries.Add((key, w => w.WriteNumber(key, read())));

    public void WriteTo(Utf8JsonWriter writer)
    {
        writer.WriteStartObject(Name);
        foreach (var (_, write) in _entries) write(writer);
        writer.WriteEndObject();
    }
}

public sealed class PerfCounter
{
    private long _value;

    public long Value => Interlocked.Read(ref _value);

    public void Add(long amount = 1) => Interlocked.Add(ref _value, amount);
}

/// <summary>Count and total of durations; the pair is read without a lock, so an average may mix two updates.</summary>
public sealed class PerfTime
{
    private long _count, _ticks;

    public void Record(TimeSpan elapsed)
    {
        Interlocked.Add(ref _ticks, elapsed.Ticks);
        Interlocked.Increment(ref _count);
    }

    public (long Count, double SumSeconds) Read() =>
        (Interlocked.Read(ref _count), TimeSpan.FromTicks(Interlocked.Read(ref _ticks)).TotalSeconds);
}

/// <summary>The counter sets of one process, for `perf dump`: added as parts start, printed by name.</summary>
public sealed class PerfRegistry
{
    private readonly Lock _lock = new();
    private readonly SortedDictionary<string, PerfCounters> _sets = new(StringComparer.Ordinal);

    /// <summary>Publishes <paramref name="counters"/>; a set of the same name is replaced.</summary>
    public void Add(PerfCounters counters)
    {
        lock (_lock) _sets[counters.Name] = counters;
    }

    public void Remove(PerfCounters counters)
    {
        lock (_lock)
            if (_sets.TryGetValue(counters.Name, out var current) && current == counters) _sets.Remove(counters.Name);
    }

    public IReadOnlyList<string> Names
    {
        get { lock (_lock) return [.. _sets.Keys]; }
    }

    /// <summary>One JSON object of every set, or only those named in <paramref name="only"/> when it is not empty.</summary>
    public void WriteTo(Utf8JsonWriter writer, IReadOnlyCollection<string>? only = null)
    {
        PerfCounters[] sets;
        lock (_lock) sets = [.. _sets.Values];
        writer.WriteStartObject();
        foreach (var set in sets)
            if (only is null || only.Count == 0 || only.Contains(set.Name)) set.WriteTo(writer);
        writer.WriteEndObject();
    }
}
