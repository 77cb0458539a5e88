using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Rampart.Rados.Client;

/// <summary>What `rados bench` measured. Latencies in milliseconds; <see cref="MaxGapMs"/> is the longest time in which no op completed;
/// <see cref="Stalls"/> every such time of at least <see cref="RadosBench.StallMs"/> ms (when it ended, seconds after
/// <see cref="Started"/>; its length).</summary>
public sealed record BenchResult(string Mode, int BlockSize, int Concurrency, long Ops, double Seconds, long Errors,
    double P50Ms, double P99Ms, double MaxMs, double MinMs, double AvgMs, double MaxGapMs, DateTimeOffset Started, IReadOnlyList<(double EndS, double Ms)> Stalls)
{
    public double OpsPerSecond => Seconds > 0 ? Ops / Seconds : 0;
    public double MegabytesPerSecond => OpsPerSecond * BlockSize / 1_000_000.0;

    /// <summary>The summary `rados bench` prints, plus percentiles and the longest stall.</summary>
    public string Text()
    {
        var t = new StringBuilder();
        void Line(string key, FormattableString value) => t.Append(CultureInfo.InvariantCulture, $"{key,-24}{value.ToString(CultureInfo.InvariantCulture)}\n");
        Line("Total time run:", $"{Seconds:0.000}");
        Line(Mode == "write" ? "Total writes made:" : "Total reads made:", $"{Ops}");
        Line(Mode == "write" ? "Write size:" : "Read size:", $"{BlockSize}");
        Line("Concurrency:", $"{Concurrency}");
        Line("Bandwidth (MB/sec):", $"{MegabytesPerSecond:0.###}");
        Line("Average IOPS:", $"{OpsPerSecond:0}");
        Line("Average Latency(s):", $"{AvgMs / 1000:0.######}");
        Line("Max latency(s):", $"{MaxMs / 1000:0.######}");
        Line("Min latency(s):", $"{MinMs / 1000:0.######}");
        Line("Latency p50(ms):", $"{P50Ms:0.###}");
        Line("Latency p99(ms):", $"{P99Ms:0.###}");
        Line("Longest stall(ms):", $"{MaxGapMs:0.#}");
        Line("Errors:", $"{Errors}");
        return t.ToString();
    }

    public string Json() => string.Create(CultureInfo.InvariantCulture,
        $"{{\"mode\":\"{Mode}\",\"block_size\":{BlockSize},\"concurrency\":{Concurrency},\"ops\":{Ops},\"seconds\":{Seconds:0.###},\"ops_per_sec\":{OpsPerSecond:0.##},\"mb_per_sec\":{MegabytesPerSecond:0.###},\"p50_ms\":{P50Ms:0.###},\"p99_ms\":{P99Ms:0.###},\"max_ms\":{MaxMs:0.###},\"errors\":{Errors},\"max_gap_ms\":{MaxGapMs:0.#},\"started_unix_ms\":{Started.ToUnixTimeMilliseconds()},\"stalls\":[{string.Join(",", Stalls.Select(g => string.Create(CultureInfo.InvariantCulture, $"[{g.EndS:0.###},{g.Ms:0.#}]")))}]}}");
}

/// <summary>
/// `rados bench`: <c>write</c> fills objects named benchmark_data_HOST_PID_objectN for the given time with
/// CONCURRENCY ops in flight and records how many in benchmark_last_metadata; <c>seq</c> reads them back in
/// order, <c>rand</c> at random, for the given time.
/// </summary>
public static class RadosBench
{
    private const string Metadata = "benchmark_last_metadata";

    /// <summary>Gaps between completions at least this long are listed as stalls (a failover shows up as one).</summary>
    public const double StallMs = 100;

    /// <param name="objects">write only: when positive, write over this many objects round-robin (overwrites,
    /// like a block image's objects) instead of a new object per op.</param>
    public static async Task<BenchResult> RunAsync(IoContext pool, string mode, TimeSpan duration, int blockSize, int concurrency,
        long objects = 0, Action<string>? progress = null, CancellationToken cancellationToken = default)
    {
        if (mode is not ("write" or "seq" or "rand"))
            throw new ArgumentException($"unknown bench mode '{mode}' (write, seq or rand)", nameof(mode));
        string prefix;
        long count;
        if (mode == "write")
        {
            prefix = $"benchmark_data_{Environment.MachineName}_{Environment.ProcessId}_object";
            count = long.MaxValue;
        }
        else
        {
            var meta = await pool.OmapGetAsync(Metadata, ["prefix", "count", "size"], cancellationToken).ConfigureAwait(false);
            if (!meta.TryGetValue("prefix", out var p) || !meta.TryGetValue("count", out var c) || !meta.TryGetValue("size", out var s))
                throw new RadosException($"Error ENOENT: no benchmark objects in pool '{pool.Pool.Name}': run 'bench SECONDS write --no-cleanup' first");
            prefix = Encoding.UTF8.GetString(p);
            count = long.Parse(Encoding.UTF8.GetString(c), CultureInfo.InvariantCulture);
            blockSize = int.Parse(Encoding.UTF8.GetString(s), CultureInfo.InvariantCulture);
            if (count == 0)
                throw new RadosException("Error ENOENT: the last write benchmark wrote no objects");
        }
        var data = new byte[blockSize];
        Random.Shared.NextBytes(data);
        var latencies = new List<double>[concurrency];
        long next = -1, errors = 0;
        long lastCompletion = Stopwatch.GetTimestamp(), maxGapTicks = 0;
        var stalls = new List<(double EndS, double Ms)>();
        var gapLock = new Lock();
        var started = DateTimeOffset.UtcNow;
        var clock = Stopwatch.StartNew();
        using var reporter = progress is null ? null : new Timer(_ => progress(string.Create(CultureInfo.InvariantCulture,
            $"{clock.Elapsed.TotalSeconds,5:0} s  {Interlocked.Read(ref next) + 1,8} ops started  {Interlocked.Read(ref errors)} errors")), null, 1000, 1000);

        async Task Worker(int slot)
        {
            var mine = latencies[slot] = [];
            while (clock.Elapsed < duration && !cancellationToken.IsCancellationRequested)
            {
                long n = Interlocked.Increment(ref next);
                if (mode == "seq" && n >= count)
                    return;
                string name = prefix + (mode == "rand" ? Random.Shared.NextInt64(count) : objects > 0 ? n % objects : n);
                long start = Stopwatch.GetTimestamp();
                try
                {
                    if (mode == "write")
                        await pool.WriteFullAsync(name, data, cancellationToken).ConfigureAwait(false);
                    else
                        await pool.ReadAsync(name, 0, blockSize, cancellationToken).ConfigureAwait(false);
                }
                catch (RadosException)
                {
                    Interlocked.Increment(ref errors);
                    continue;
                }
                long end = Stopwatch.GetTimestamp();
                mine.Add(Stopwatch.GetElapsedTime(start, end).TotalMilliseconds);
                lock (gapLock)
                {
                    maxGapTicks = Math.Max(maxGapTicks, end - lastCompletion);
                    var gap = Stopwatch.GetElapsedTime(lastCompletion, end);
                    if (gap.TotalMilliseconds >= StallMs)
                        stalls.Add((clock.Elapsed.TotalSeconds, gap.TotalMilliseconds));
                    lastCompletion = Math.Max(lastCompletion, end);
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(Worker)).ConfigureAwait(false);
        double seconds = clock.Elapsed.TotalSeconds;
        var all = latencies.SelectMany(l => l).Order().ToArray();
        if (mode == "write")
        {
            await pool.OmapSetAsync(Metadata, [
                new("prefix", Encoding.UTF8.GetBytes(prefix)),
                new("count", Encoding.UTF8.GetBytes((objects > 0 ? Math.Min(objects, all.Length) : all.Length).ToString(CultureInfo.InvariantCulture))),
                new("size", Encoding.UTF8.GetBytes(blockSize.ToString(CultureInfo.InvariantCulture)))], cancellationToken).ConfigureAwait(false);
        }
        double Pct(double q) => all.Length == 0 ? 0 : all[Math.Min(all.Length - 1, (int)(q * all.Length))];
        return new BenchResult(mode, blockSize, concurrency, all.Length, seconds, errors, Pct(0.5), Pct(0.99),
            all.Length == 0 ? 0 : all[^1], all.Length == 0 ? 0 : all[0], all.Length == 0 ? 0 : all.Average(),
            Stopwatch.GetElapsedTime(0, maxGapTicks).TotalMilliseconds, started, stalls);
    }

    /// <summary>Removes the objects of the last write benchmark and its metadata.</summary>
    public static async Task<long> CleanupAsync(IoContext pool, CancellationToken cancellationToken = default)
    {
        var meta = await pool.OmapGetAsync(Metadata, ["prefix", "count"], cancellationToken).ConfigureAwait(false);
        if (!meta.TryGetValue("prefix", out var p) || !meta.TryGetValue("count", out var c))
            return 0;
        string prefix = Encoding.UTF8.GetString(p);
        long count = long.Parse(Encoding.UTF8.GetString(c), CultureInfo.InvariantCulture);
        var names = Enumerable.Range(0, (int)count).Select(i => prefix + i).ToArray();
        await Parallel.ForEachAsync(names, new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = cancellationToken }, async (name, token) =>
        {
            try { await pool.RemoveAsync(name, token).ConfigureAwait(false); }
            catch (RadosException e) when (e.Errno == "ENOENT") { }
        }).ConfigureAwait(false);
        await pool.RemoveAsync(Metadata, cancellationToken).ConfigureAwait(false);
        return count;
    }
}
