using System.Globalization;
using System.Text;
using System.Text.Json;
using Rampart.Rados.Crush;
using Rampart.Rados.Maps;

namespace Rampart.Rados.Client;

/// <summary>What the admin commands print, computed from a map: `status`, `osd tree`, `pool get/ls`.</summary>
public static class AdminViews
{
    /// <summary>`rampart status`, worded like `ceph -s`.</summary>
    public static string Status(ClusterMap map, string? leader, PgSummary? pgs = null)
    {
        var health = ClusterHealth.Health(map, pgs?.Counts);
        var text = new StringBuilder();
        text.Append(Invariant($"  cluster:\n    id:     {map.Fsid}\n    health: {HealthReport.StatusText(health.Status)}\n"));
        foreach (var check in health.Checks)
            text.Append(Invariant($"            {check.Summary}\n"));
        text.Append(Invariant($"\n  services:\n    mon: {map.Monitors.Count} daemons ({string.Join(",", map.Monitors.Keys)}), leader {leader ?? "(election in progress)"}\n"));
        text.Append(Invariant($"    osd: {map.Osds.Count} osds: {map.UpOsdCount} up, {map.InOsdCount} in\n"));
        text.Append(Invariant($"\n  data:\n    pools:   {map.Pools.Count} pools, {map.Pools.Values.Sum(p => (long)p.PgNum)} pgs\n    epoch:   {map.Epoch}\n"));
        if (pgs is not null)
        {
            text.Append(Invariant($"    objects: {pgs.Objects} objects\n    usage:   {Size(pgs.UsedBytes)} used\n    pgs:     "));
            text.Append(string.Join("\n             ", pgs.ByState.Select(s => Invariant($"{s.Count} {s.State}"))));
            text.Append('\n');
        }
        return text.ToString();
    }

    /// <summary>`rampart status --json`.</summary>
    public static string StatusJson(ClusterMap map, string? leader, PgSummary? pgs = null)
    {
        var health = ClusterHealth.Health(map, pgs?.Counts);
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteString("fsid", map.Fsid);
            json.WriteNumber("epoch", map.Epoch);
            json.WriteStartObject("health");
            json.WriteString("status", HealthReport.StatusText(health.Status));
            json.WriteStartArray("checks");
            foreach (var check in health.Checks)
            {
                json.WriteStartObject();
                json.WriteString("code", check.Code);
                json.WriteString("summary", check.Summary);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteEndObject();
            json.WriteStartArray("mons");
            foreach (var mon in map.Monitors.Values)
            {
                json.WriteStartObject();
                json.WriteString("name", mon.Name);
                json.WriteString("addr", mon.Address);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            if (leader is null)
                json.WriteNull("leader");
            else
                json.WriteString("leader", leader);
            json.WriteStartObject("osdmap");
            json.WriteNumber("num_osds", map.Osds.Count);
            json.WriteNumber("num_up_osds", map.UpOsdCount);
            json.WriteNumber("num_in_osds", map.InOsdCount);
            json.WriteEndObject();
            json.WriteStartArray("pools");
            foreach (var pool in map.Pools.Values)
                WritePool(json, pool, map);
            json.WriteEndArray();
            if (pgs is not null)
            {
                json.WriteStartObject("pgs");
                json.WriteNumber("total", pgs.Total);
                json.WriteStartObject("states");
                foreach (var (state, count) in pgs.ByState)
                    json.WriteNumber(state, count);
                json.WriteEndObject();
                json.WriteNumber("objects", pgs.Objects);
                json.WriteNumber("used_bytes", pgs.UsedBytes);
                json.WriteEndObject();
            }
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>Bytes as ceph prints them: "12 KiB", "3.4 GiB".</summary>
    public static string Size(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        double value = bytes;
        int unit = 0;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }
        return unit == 0 ? Invariant($"{bytes} B") : Invariant($"{value:0.#} {units[unit]}");
    }

    /// <summary>`pg stat`: "128 pgs: 120 active+clean, 8 peering; 42 objects; 1.2 MiB used".</summary>
    public static string PgStat(PgSummary pgs) =>
        Invariant($"{pgs.Total} pgs: {string.Join(", ", pgs.ByState.Select(s => Invariant($"{s.Count} {s.State}")))}; {pgs.Objects} objects; {Size(pgs.UsedBytes)} used");

    /// <summary>`osd df`: per OSD its weights, disk use and PG count.</summary>
    public static string OsdDf(ClusterMap map, PgSummary pgs)
    {
        var text = new StringBuilder("ID  HOST              WEIGHT  REWEIGHT  USED       PGS  STATUS\n");
        foreach (var osd in map.Osds.Values)
        {
            var stats = pgs.Osds.GetValueOrDefault(osd.Id);
            string used = stats is null ? "-" : Size(stats.UsedBytes);
            string count = stats is null ? "-" : stats.StoredPgs.ToString(CultureInfo.InvariantCulture);
            text.Append(Invariant($"{osd.Id,-3} {osd.Host,-17} {osd.CrushWeight,6:0.###}  {osd.Reweight,8:0.###}  {used,-10} {count,4}  {(osd.Up ? "up" : "down")}\n"));
        }
        text.Append(Invariant($"TOTAL used {Size(pgs.UsedBytes)}\n"));
        return text.ToString();
    }

    /// <summary>`pg map POOL OBJECT`, worded like `ceph osd map`.</summary>
    public static string PgMap(ClusterMap map, PoolInfo pool, string objectName)
    {
        var pg = map.Locate(pool, objectName);
        var up = map.UpSet(pg);
        string primary = up.Length > 0 ? Invariant($"p{up[0]}") : "p-1";
        return Invariant($"osdmap e{map.Epoch} pool '{pool.Name}' ({pool.Id}) object '{objectName}' -> pg {pg} -> up ([{string.Join(",", up)}], {primary}) acting ([{string.Join(",", up)}], {primary})");
    }

    /// <summary>`pool ls` (names) or `pool ls detail` lines.</summary>
    public static string PoolDetail(PoolInfo pool, ClusterMap map) =>
        Invariant($"pool {pool.Id} '{pool.Name}' replicated size {pool.Size} min_size {pool.MinSize} crush_rule {pool.CrushRule} ({RuleName(pool, map)}) pg_num {pool.PgNum}{(pool.Application is null ? "" : $" application {pool.Application}")}{((pool.Flags & PoolFlags.NoDelete) != 0 ? " nodelete" : "")}");

    /// <summary>`pool get NAME KEY`, the keys `pool set` accepts; null for an unknown key.</summary>
    public static string? PoolGet(PoolInfo pool, ClusterMap map, string key) => key switch
    {
        "size" => Invariant($"size: {pool.Size}"),
        "min_size" => Invariant($"min_size: {pool.MinSize}"),
        "pg_num" => Invariant($"pg_num: {pool.PgNum}"),
        "crush_rule" => $"crush_rule: {RuleName(pool, map)}",
        "application" => $"application: {pool.Application ?? ""}",
        "nodelete" => $"nodelete: {((pool.Flags & PoolFlags.NoDelete) != 0 ? "true" : "false")}",
        _ => null,
    };

    public static IReadOnlyList<string> PoolKeys { get; } = ["size", "min_size", "pg_num", "crush_rule", "application", "nodelete"];

    /// <summary>`osd tree`: buckets and OSDs depth first from each root, with weights and OSD state.</summary>
    public static string OsdTree(ClusterMap map)
    {
        var crush = map.Crush;
        var text = new StringBuilder("ID   CLASS  WEIGHT   TYPE NAME          STATUS  REWEIGHT\n");
        foreach (var root in crush.Buckets.Where(b => crush.ParentOf(b.Id) is null).OrderByDescending(b => b.Id))
            Walk(root.Id, 0);
        // OSDs that booted but CRUSH does not place (cannot happen through OsdBoot, kept for honesty).
        foreach (var osd in map.Osds.Values.Where(o => !crush.ContainsDevice(o.Id)))
            Line(osd.Id, 0);
        return text.ToString();

        void Walk(int id, int depth)
        {
            Line(id, depth);
            if (id < 0 && crush.TryGetBucket(id, out var bucket))
            {
                foreach (var item in bucket.Items)
                    Walk(item.Id, depth + 1);
            }
        }

        void Line(int id, int depth)
        {
            string indent = new(' ', depth * 4);
            if (id < 0)
            {
                crush.TryGetBucket(id, out var bucket);
                text.Append(Invariant($"{id,-4}         {crush.WeightOf(id),7:0.00000}  {indent}{CrushBucketTypes.Name(bucket!.Type)} {bucket.Name}\n"));
                return;
            }
            var osd = map.FindOsd(id);
            string status = osd is null ? "dne" : osd.Up ? "up" : "down";
            double reweight = osd?.Reweight ?? 0;
            text.Append(Invariant($"{id,-4}         {crush.WeightOf(id),7:0.00000}  {indent}osd.{id,-13} {status,-6} {reweight,8:0.00000}\n"));
        }
    }

    /// <summary>Caps as the ceph CLI takes them after the shell: service then text, repeated
    /// (`mon 'allow r' osd 'allow rwx pool=volumes'`).</summary>
    public static IReadOnlyDictionary<string, string> ParseCapArgs(IReadOnlyList<string> args)
    {
        if (args.Count % 2 != 0)
            throw new MonClientException($"caps come in pairs SERVICE 'CAPS' (e.g. mon 'allow r'); '{args[^1]}' has no caps text");
        var caps = new SortedDictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < args.Count; i += 2)
        {
            if (!caps.TryAdd(args[i], args[i + 1]))
                throw new MonClientException($"caps for '{args[i]}' given twice");
        }
        return caps;
    }

    private static string RuleName(PoolInfo pool, ClusterMap map) => map.Crush.FindRule(pool.CrushRule)?.Name ?? Invariant($"rule{pool.CrushRule}");

    private static void WritePool(Utf8JsonWriter json, PoolInfo pool, ClusterMap map)
    {
        json.WriteStartObject();
        json.WriteNumber("id", pool.Id);
        json.WriteString("name", pool.Name);
        json.WriteNumber("size", pool.Size);
        json.WriteNumber("min_size", pool.MinSize);
        json.WriteNumber("pg_num", pool.PgNum);
        json.WriteString("crush_rule", RuleName(pool, map));
        json.WriteEndObject();
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
