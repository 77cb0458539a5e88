using Rampart.Rados.Maps;
using Rampart.Rados.Osd;
using Rampart.Rados.Placement;

namespace Rampart.Rados.Client;

/// <summary>
/// Every PG's state as its primary reports it (OSDs answer <see cref="OsdMessages.Stats"/>), for `status`,
/// `pg stat`, `pg ls` and `osd df`. A PG with no OSD up is "down"; one whose primary did not answer, "unknown".
/// </summary>
public sealed record PgSummary(IReadOnlyDictionary<PgId, string> States, long Objects, IReadOnlyDictionary<int, OsdStats> Osds)
{
    public static async Task<PgSummary> CollectAsync(RadosClient client, CancellationToken cancellationToken = default)
    {
        var map = client.Map;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(5));
        var reports = await Task.WhenAll(map.Osds.Values.Where(o => o.Up).Select(async o =>
        {
            try { return await client.GetOsdStatsAsync(o.Id, timeout.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested) { return null; }
        })).ConfigureAwait(false);
        var osds = reports.OfType<OsdStats>().ToDictionary(r => r.Osd);
        var states = new Dictionary<PgId, string>();
        long objects = 0;
        foreach (var pool in map.Pools.Values)
        {
            foreach (var (pg, up) in map.UpSets(map.PgsOf(pool)))
            {
                if (up.Length == 0)
                {
                    states[pg] = "down";
                    continue;
                }
                var stat = osds.GetValueOrDefault(up[0])?.Pgs.FirstOrDefault(p => p.PgId == pg.ToString());
                states[pg] = stat?.State ?? "unknown";
                objects += stat?.Objects ?? 0;
            }
        }
        return new PgSummary(states, objects, osds);
    }

    public int Total => States.Count;

    /// <summary>Counts per state, most common first: ("active+clean", 120), ("active+recovering+degraded", 8).</summary>
    public IReadOnlyList<(string State, int Count)> ByState =>
        [.. States.Values.GroupBy(s => s).Select(g => (g.Key, g.Count())).OrderByDescending(g => g.Item2).ThenBy(g => g.Key, StringComparer.Ordinal)];

    public bool AllActiveClean => States.Values.All(s => s == "active+clean");

    public long UsedBytes => Osds.Values.Sum(o => o.UsedBytes);

    /// <summary>The counts health checks read.</summary>
    public PgStateCounts Counts => new(
        Inactive: States.Values.Count(s => !s.StartsWith("active", StringComparison.Ordinal)),
        Down: States.Values.Count(s => s.Contains("down", StringComparison.Ordinal)),
        Degraded: States.Values.Count(s => s.Contains("degraded", StringComparison.Ordinal)),
        Undersized: States.Values.Count(s => s.Contains("undersized", StringComparison.Ordinal)));
}
