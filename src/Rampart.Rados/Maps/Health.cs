using System.Globalization;

namespace Rampart.Rados.Maps;

public enum HealthStatus
{
    Ok,
    Warn,
    Err,
}

/// <summary>One health check that fired: Ceph's code (OSD_DOWN, PG_DEGRADED, …), severity and summary.</summary>
public sealed record HealthCheck(string Code, HealthStatus Severity, string Summary);

/// <summary>PG state counts reported by OSDs (through the managers, in Ceph); each PG counted in every state it is in.</summary>
public sealed record PgStateCounts(int Inactive = 0, int Down = 0, int Degraded = 0, int Undersized = 0, int Inconsistent = 0);

/// <summary>The overall status (the worst check's) and the checks, in a fixed order.</summary>
public sealed record HealthReport(HealthStatus Status, IReadOnlyList<HealthCheck> Checks)
{
    public static string StatusText(HealthStatus status) => status switch
    {
        HealthStatus.Ok => "HEALTH_OK",
        HealthStatus.Warn => "HEALTH_WARN",
        _ => "HEALTH_ERR",
    };

    /// <summary>"HEALTH_OK", or "HEALTH_WARN: 1 osds down; Degraded data redundancy: 12 pgs undersized".</summary>
    public override string ToString() =>
        Checks.Count == 0 ? StatusText(Status) : $"{StatusText(Status)}: {string.Join("; ", Checks.Select(c => c.Summary))}";
}

/// <summary>
/// `ceph health` from the map, worded as Ceph words it. Checks: OSD_DOWN, OSD_HOST_DOWN, TOO_FEW_OSDS,
/// POOL_NO_REDUNDANCY, and for PGs either the counts passed in or, without them, what the map implies
/// (a PG whose up set is shorter than min_size is inactive, shorter than size undersized):
/// PG_AVAILABILITY, PG_DEGRADED (warnings) and PG_DAMAGED (an error).
/// </summary>
public static class ClusterHealth
{
    public static HealthReport Health(ClusterMap map, PgStateCounts? pgStats = null)
    {
        ArgumentNullException.ThrowIfNull(map);
        var checks = new List<HealthCheck>();

        int down = map.Osds.Values.Count(o => !o.Up && o.In);
        if (down > 0)
            checks.Add(new("OSD_DOWN", HealthStatus.Warn, Invariant($"{down} osds down")));

        var hostsDown = map.Osds.Values.GroupBy(o => o.Host, StringComparer.Ordinal)
            .Where(g => g.All(o => !o.Up) && g.Any(o => o.In)).ToList();
        if (hostsDown.Count > 0)
        {
            int osds = hostsDown.Sum(g => g.Count());
            string hosts = hostsDown.Count == 1 ? "1 host" : Invariant($"{hostsDown.Count} hosts");
            checks.Add(new("OSD_HOST_DOWN", HealthStatus.Warn, Invariant($"{hosts} ({osds} osds) down")));
        }

        int defaultSize = map.Options.OsdPoolDefaultSize;
        if (map.Osds.Count < defaultSize)
            checks.Add(new("TOO_FEW_OSDS", HealthStatus.Warn, Invariant($"OSD count {map.Osds.Count} < osd_pool_default_size {defaultSize}")));

        int noReplicas = map.Pools.Values.Count(p => p.Size == 1);
        if (noReplicas > 0)
            checks.Add(new("POOL_NO_REDUNDANCY", HealthStatus.Warn, Invariant($"{noReplicas} pool(s) have no replicas configured")));

        var pgs = pgStats ?? FromMap(map);
        var availability = Parts((pgs.Inactive, "inactive"), (pgs.Down, "down"));
        if (availability.Length > 0)
            checks.Add(new("PG_AVAILABILITY", HealthStatus.Warn, $"Reduced data availability: {availability}"));
        var redundancy = Parts((pgs.Degraded, "degraded"), (pgs.Undersized, "undersized"));
        if (redundancy.Length > 0)
            checks.Add(new("PG_DEGRADED", HealthStatus.Warn, $"Degraded data redundancy: {redundancy}"));
        if (pgs.Inconsistent > 0)
            checks.Add(new("PG_DAMAGED", HealthStatus.Err, $"Possible data damage: {Parts((pgs.Inconsistent, "inconsistent"))}"));

        var status = checks.Count == 0 ? HealthStatus.Ok : checks.Max(c => c.Severity);
        return new HealthReport(status, checks);
    }

    /// <summary>PG states the map alone implies: up set below min_size → inactive; below size → undersized.</summary>
    public static PgStateCounts FromMap(ClusterMap map)
    {
        int inactive = 0, undersized = 0;
        foreach (var pool in map.Pools.Values)
        {
            foreach (var (_, up) in map.UpSets(map.PgsOf(pool)))
            {
                if (up.Length < pool.MinSize)
                    inactive++;
                if (up.Length < pool.Size)
                    undersized++;
            }
        }
        return new PgStateCounts(Inactive: inactive, Undersized: undersized);
    }

    private static string Parts(params (int Count, string State)[] parts) =>
        string.Join(", ", parts.Where(p => p.Count > 0).Select(p => Invariant($"{p.Count} {(p.Count == 1 ? "pg" : "pgs")} {p.State}")));

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
