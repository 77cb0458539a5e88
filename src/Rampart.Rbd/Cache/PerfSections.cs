using System.Diagnostics.Metrics;
using Rampart.Common.AdminSocket;

namespace Rampart.Rbd.Cache;

/// <summary>
/// What clients did with one image in this process (librbd's "librbd-ID-POOL-IMAGE" perf section): requests,
/// bytes and latencies as the client saw them, cache or not. Also published on the "Rampart.Rbd" meter.
/// </summary>
public sealed class ImagePerf
{
    private static readonly Meter Meter = new("Rampart.Rbd");
    private static readonly Counter<long> OpsMetric = Meter.CreateCounter<long>("rampart.rbd.ops", description: "Image requests served");
    private static readonly Counter<long> BytesMetric = Meter.CreateCounter<long>("rampart.rbd.bytes", unit: "By", description: "Bytes read, written or discarded");
    private static readonly Histogram<double> LatencyMetric = Meter.CreateHistogram<double>("rampart.rbd.latency", unit: "s", description: "Image request latency");

    private readonly PerfCounter _rd, _rdBytes, _wr, _wrBytes, _discard, _discardBytes, _flush, _errors;
    private readonly PerfTime _rdLatency, _wrLatency, _discardLatency, _flushLatency;

    public ImagePerf(string name)
    {
        Counters = new PerfCounters(name);
        _rd = Counters.Counter("rd");
        _rdBytes = Counters.Counter("rd_bytes");
        _rdLatency = Counters.Time("rd_latency");
        _wr = Counters.Counter("wr");
        _wrBytes = Counters.Counter("wr_bytes");
        _wrLatency = Counters.Time("wr_latency");
        _discard = Counters.Counter("discard");
        _discardBytes = Counters.Counter("discard_bytes");
        _discardLatency = Counters.Time("discard_latency");
        _flush = Counters.Counter("flush");
        _flushLatency = Counters.Time("flush_latency");
        _errors = Counters.Counter("errors");
    }

    /// <summary>Ceph's name for an open image's section: librbd-ID-POOL-IMAGE (with @SNAP for a snapshot).</summary>
    public static string SectionName(ImageSpec spec, string imageId) =>
        $"librbd-{imageId}-{spec.Pool}-{spec.Image}{(spec.Snap is null ? "" : "@" + spec.Snap)}";

    public PerfCounters Counters { get; }

    public long Reads => _rd.Value;

    public long Writes => _wr.Value;

    public long WrittenBytes => _wrBytes.Value;

    public long Flushes => _flush.Value;

    internal void Read(long bytes, TimeSpan elapsed) => Record(_rd, _rdBytes, _rdLatency, "read", bytes, elapsed);

    internal void Write(long bytes, TimeSpan elapsed) => Record(_wr, _wrBytes, _wrLatency, "write", bytes, elapsed);

    /// <summary>TRIM and WRITE_ZEROES.</summary>
    internal void Discard(long bytes, TimeSpan elapsed) => Record(_discard, _discardBytes, _discardLatency, "discard", bytes, elapsed);

    internal void Flush(TimeSpan elapsed) => Record(_flush, null, _flushLatency, "flush", 0, elapsed);

    internal void Error() => _errors.Add();

    private static void Record(PerfCounter ops, PerfCounter? bytesCounter, PerfTime latency, string op, long bytes, TimeSpan elapsed)
    {
        var tag = new KeyValuePair<string, object?>("op", op);
        ops.Add();
        OpsMetric.Add(1, tag);
        if (bytesCounter is not null)
        {
            bytesCounter.Add(bytes);
            BytesMetric.Add(bytes, tag);
        }
        latency.Record(elapsed);
        LatencyMetric.Record(elapsed.TotalSeconds, tag);
    }
}

/// <summary>
/// What the writeback cache of one image did (librbd's "objectcacher-…" section): read hits and misses, bytes
/// buffered, written out and written through, writers held back by rbd_cache_max_dirty, write-back failures, and
/// the bytes dirty and clean now. Also published on the "Rampart.Rbd.Cache" meter.
/// </summary>
public sealed class CachePerf
{
    private static readonly Meter Meter = new("Rampart.Rbd.Cache");
    private static readonly Counter<long> HitsMetric = Meter.CreateCounter<long>("rampart.rbd.cache.hits", description: "Reads answered from the cache alone");
    private static readonly Counter<long> MissesMetric = Meter.CreateCounter<long>("rampart.rbd.cache.misses", description: "Reads that went to the image");
    private static readonly Counter<long> WrittenBackMetric = Meter.CreateCounter<long>("rampart.rbd.cache.written_back", unit: "By", description: "Buffered bytes written out to the image");
    private static readonly Counter<long> BlockedMetric = Meter.CreateCounter<long>("rampart.rbd.cache.writes_blocked", description: "Writes that waited for room (rbd_cache_max_dirty)");
    private static readonly Counter<long> WritebackErrorsMetric = Meter.CreateCounter<long>("rampart.rbd.cache.writeback_errors", description: "Write-backs that failed (retried; reported by the next FLUSH)");

    private readonly PerfCounter _opsHit, _opsMiss, _bytesHit, _bytesMiss, _dataRead, _dataWritten, _dataFlushed, _writeThrough,
        _opsBlocked, _bytesBlocked, _writebacks, _writebackErrors, _flushErrors;
    private readonly PerfTime _timeBlocked;
    private volatile WritebackCache? _cache;

    public CachePerf(string name)
    {
        Counters = new PerfCounters(name);
        _opsHit = Counters.Counter("cache_ops_hit");
        _opsMiss = Counters.Counter("cache_ops_miss");
        _bytesHit = Counters.Counter("cache_bytes_hit");
        _bytesMiss = Counters.Counter("cache_bytes_miss");
        _dataRead = Counters.Counter("data_read");
        _dataWritten = Counters.Counter("data_written");
        _dataFlushed = Counters.Counter("data_flushed");
        _writeThrough = Counters.Counter("write_through");
        _opsBlocked = Counters.Counter("write_ops_blocked");
        _bytesBlocked = Counters.Counter("write_bytes_blocked");
        _timeBlocked = Counters.Time("write_time_blocked");
        _writebacks = Counters.Counter("writeback_ops");
        _writebackErrors = Counters.Counter("writeback_errors");
        _flushErrors = Counters.Counter("flush_errors");
        Counters.Gauge("dirty_bytes", () => _cache?.DirtyBytes ?? 0);
        Counters.Gauge("flushing_bytes", () => _cache?.FlushingBytes ?? 0);
        Counters.Gauge("clean_bytes", () => _cache?.CleanBytes ?? 0);
    }

    public static string SectionName(string imageSection) => $"objectcacher-{imageSection}";

    public PerfCounters Counters { get; }

    public long Hits => _opsHit.Value;

    public long Misses => _opsMiss.Value;

    public long DataWritten => _dataWritten.Value;

    public long DataFlushed => _dataFlushed.Value;

    public long WriteThrough => _writeThrough.Value;

    public long WritesBlocked => _opsBlocked.Value;

    public long WritebackErrors => _writebackErrors.Value;

    /// <summary>The cache whose bytes the gauges show: the image's open one (a reopened image's counters carry on).</summary>
    internal void Attach(WritebackCache cache) => _cache = cache;

    internal void Hit(long bytes)
    {
        _opsHit.Add();
        _bytesHit.Add(bytes);
        HitsMetric.Add(1);
    }

    /// <summary>A read not wholly in the cache: <paramref name="fromImage"/> bytes were read from the image.</summary>
    internal void Miss(long bytes, long fromImage)
    {
        _opsMiss.Add();
        _bytesMiss.Add(bytes);
        _dataRead.Add(fromImage);
        MissesMetric.Add(1);
    }

    internal void Buffered(long bytes) => _dataWritten.Add(bytes);

    internal void WrittenThrough(long bytes) => _writeThrough.Add(bytes);

    internal void Blocked(long bytes)
    {
        _opsBlocked.Add();
        _bytesBlocked.Add(bytes);
        BlockedMetric.Add(1);
    }

    internal void Unblocked(TimeSpan waited) => _timeBlocked.Record(waited);

    internal void WrittenBack(long bytes)
    {
        _writebacks.Add();
        _dataFlushed.Add(bytes);
        WrittenBackMetric.Add(bytes);
    }

    internal void WritebackFailed()
    {
        _writebackErrors.Add();
        WritebackErrorsMetric.Add(1);
    }

    internal void FlushFailed() => _flushErrors.Add();
}
