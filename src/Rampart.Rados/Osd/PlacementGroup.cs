using Rampart.Rados.Maps;
using Rampart.Rados.Osd.Store;
using Rampart.Rados.Placement;

namespace Rampart.Rados.Osd;

/// <summary>
/// A span of epochs during which a PG keeps the same acting set (and the same incarnation of each member).
/// Cancelled when the next one starts: whatever the old interval had in flight — peering, recovery, a write
/// waiting for a replica — stops, and clients resend to whoever leads the new one.
/// </summary>
internal sealed class PgInterval(long epoch, PoolInfo pool, int[] acting, long[] upFrom)
{
    private readonly CancellationTokenSource _cts = new();

    public long Epoch { get; } = epoch;
    public PoolInfo Pool { get; } = pool;
    public int[] Acting { get; } = acting;
    public int Primary => Acting.Length > 0 ? Acting[0] : -1;
    public CancellationToken Token => _cts.Token;
    /// <summary>Completes when the primary has activated the PG in this interval.</summary>
    public TaskCompletionSource Active { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public bool SameAs(PgInterval other) =>
        Acting.AsSpan().SequenceEqual(other.Acting) && upFrom.AsSpan().SequenceEqual(other.UpFromValues)
        && Pool.Size == other.Pool.Size && Pool.MinSize == other.Pool.MinSize;

    private long[] UpFromValues => upFrom;

    /// <summary>The same interval, started over (a fresh activation), e.g. after a write failed on a member.</summary>
    public PgInterval Renew() => new(Epoch, Pool, Acting, upFrom);

    public void Cancel()
    {
        Active.TrySetCanceled();
        _cts.Cancel();
    }
}

/// <summary>One PG as this OSD tracks it. <see cref="Lock"/> orders the primary's writes (and the reads that must
/// not see a write before it is durable everywhere) and the recovery pushes between them.</summary>
internal sealed class PlacementGroup(PgId id)
{
    public PgId Id { get; } = id;
    public PoolInfo? Pool { get; set; }
    public PgInterval? Interval { get; private set; }
    public SemaphoreSlim Lock { get; } = new(1, 1);
    public string State { get; set; } = "unknown";

    // Primary only, guarded by Lock once active.
    public PgVersion Head { get; set; }
    public PgVersion Tail { get; set; }
    public Dictionary<string, PgVersion> Dups { get; } = new(StringComparer.Ordinal);
    public PgInfo Info { get; set; } = PgInfo.Empty;
    /// <summary>Objects in the PG: counted at activation, then kept by each write (for `pg stat` without a listing).</summary>
    public long Objects { get; set; }
    /// <summary>How many of the pool's removed snapshots this OSD's copy has been trimmed of (0 again after each new interval:
    /// recovery may have brought old versions back).</summary>
    public int TrimmedSnaps { get; set; }
    public DateTimeOffset LastScrub { get; set; } = DateTimeOffset.UtcNow;
    public DateTimeOffset LastDeepScrub { get; set; } = DateTimeOffset.UtcNow;

    public void StartInterval(PgInterval? next)
    {
        var old = Interval;
        Interval = next;
        Pool = next?.Pool ?? Pool;
        State = next is null ? "unknown" : next.Primary < 0 ? "stale" : "peering";
        TrimmedSnaps = 0;
        old?.Cancel();
    }
}
