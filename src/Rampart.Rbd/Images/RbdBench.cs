using System.Diagnostics;
using System.Globalization;

namespace Rampart.Rbd.Images;

public sealed record RbdBenchResult(bool Write, int IoSize, long Ops, long Bytes, TimeSpan Elapsed, double P50Ms, double P99Ms)
{
    public double Iops => Ops / Elapsed.TotalSeconds;

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"elapsed: {Elapsed.TotalSeconds:0.0} s  ops: {Ops}  ops/sec: {Iops:0}  bytes/sec: {Bytes / Elapsed.TotalSeconds / (1 << 20):0.0} MiB/s  latency p50 {P50Ms:0.00} ms  p99 {P99Ms:0.00} ms");
}

/// <summary>`rbd bench`: fixed-size I/Os with several in flight, sequential or random, until a byte total or a time limit.</summary>
public static class RbdBench
{
    public static async Task<RbdBenchResult> RunAsync(Image image, bool write, int ioSize, int threads, bool random, long total, TimeSpan limit, CancellationToken cancellationToken = default)
    {
        if (ioSize <= 0 || ioSize > image.Size || threads is < 1 or > 1024)
            throw new RbdException("EINVAL", "--io-size must be 1 byte .. the image size and --io-threads 1..1024");
        long slots = image.Size / ioSize, next = 0, ops = 0;
        var latencies = new List<double>[threads];
        var clock = Stopwatch.StartNew();
        await Parallel.ForAsync(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads, CancellationToken = cancellationToken }, async (worker, token) =>
        {
            var buffer = new byte[ioSize];
            var mine = latencies[worker] = [];
            while (clock.Elapsed < limit)
            {
                long n = Interlocked.Increment(ref next) - 1;
                if (n * ioSize >= total) break;
                long slot = random ? Random.Shared.NextInt64(slots) : n % slots;
                long started = Stopwatch.GetTimestamp();
                if (write)
                {
                    Random.Shared.NextBytes(buffer);
                    await image.WriteAsync(slot * ioSize, buffer, false, token).ConfigureAwait(false);
                }
                else
                {
                    await image.ReadAsync(slot * ioSize, buffer, token).ConfigureAwait(false);
                }
                mine.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                Interlocked.Increment(ref ops);
            }
        }).ConfigureAwait(false);
        var all = latencies.SelectMany(l => l).Order().ToArray();
        double Percentile(double p) => all.Length == 0 ? 0 : all[(int)Math.Min(all.Length - 1, p * all.Length)];
        return new RbdBenchResult(write, ioSize, ops, ops * ioSize, clock.Elapsed, Percentile(0.5), Percentile(0.99));
    }
}
