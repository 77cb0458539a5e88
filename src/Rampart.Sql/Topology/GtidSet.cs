using System.Globalization;

namespace Rampart.Sql.Topology;

/// <summary>One MariaDB GTID: domain-server-sequence ("0-1-100").</summary>
public readonly record struct Gtid(uint Domain, uint ServerId, ulong Seq)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Domain}-{ServerId}-{Seq}");

    public static bool TryParse(ReadOnlySpan<char> text, out Gtid gtid)
    {
        gtid = default;
        text = text.Trim();
        int first = text.IndexOf('-');
        if (first <= 0) return false;
        int second = text[(first + 1)..].IndexOf('-');
        if (second <= 0) return false;
        second += first + 1;
        if (!uint.TryParse(text[..first], NumberStyles.None, CultureInfo.InvariantCulture, out uint domain)
            || !uint.TryParse(text[(first + 1)..second], NumberStyles.None, CultureInfo.InvariantCulture, out uint server)
            || !ulong.TryParse(text[(second + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out ulong seq))
            return false;
        gtid = new Gtid(domain, server, seq);
        return true;
    }
}

/// <summary>
/// A MariaDB GTID position (@@gtid_current_pos, @@gtid_slave_pos, Gtid_IO_Pos): the last GTID of each
/// replication domain. Within a domain, gtid_strict_mode makes sequence numbers strictly increasing along
/// the one history every server shares, so "has everything up to seq N" is a per-domain comparison.
/// </summary>
public sealed class GtidSet : IEquatable<GtidSet>
{
    public static readonly GtidSet Empty = new(new SortedDictionary<uint, Gtid>());

    private readonly SortedDictionary<uint, Gtid> _byDomain;

    private GtidSet(SortedDictionary<uint, Gtid> byDomain) => _byDomain = byDomain;

    public IEnumerable<Gtid> Gtids => _byDomain.Values;

    public bool IsEmpty => _byDomain.Count == 0;

    public Gtid? this[uint domain] => _byDomain.TryGetValue(domain, out var g) ? g : null;

    public static GtidSet Of(params Gtid[] gtids)
    {
        var map = new SortedDictionary<uint, Gtid>();
        foreach (var g in gtids) Keep(map, g);
        return new GtidSet(map);
    }

    /// <summary>Parses "0-1-100,1-2-7" (spaces and newlines allowed; "" is empty). A domain listed twice keeps its highest sequence.</summary>
    public static GtidSet Parse(string? text) =>
        TryParse(text, out var set) ? set : throw new FormatException($"'{text}' is not a MariaDB GTID list (domain-server-seq, comma separated)");

    public static bool TryParse(string? text, out GtidSet set)
    {
        set = Empty;
        if (string.IsNullOrWhiteSpace(text)) return true;
        var map = new SortedDictionary<uint, Gtid>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!Gtid.TryParse(part, out var g)) return false;
            Keep(map, g);
        }
        set = new GtidSet(map);
        return true;
    }

    private static void Keep(SortedDictionary<uint, Gtid> map, Gtid g)
    {
        if (!map.TryGetValue(g.Domain, out var had) || had.Seq < g.Seq) map[g.Domain] = g;
    }

    /// <summary>True when every domain of <paramref name="other"/> is here at the same or a later sequence.</summary>
    public bool Contains(GtidSet other)
    {
        foreach (var g in other._byDomain.Values)
            if (!_byDomain.TryGetValue(g.Domain, out var mine) || mine.Seq < g.Seq) return false;
        return true;
    }

    /// <summary>Per domain, the later of the two.</summary>
    public GtidSet Union(GtidSet other)
    {
        var map = new SortedDictionary<uint, Gtid>(_byDomain);
        foreach (var g in other._byDomain.Values) Keep(map, g);
        return new GtidSet(map);
    }

    /// <summary>Sum of sequence numbers: a total order used only to rank positions no set contains (several domains).</summary>
    public ulong Weight => _byDomain.Values.Aggregate(0UL, (sum, g) => sum + g.Seq);

    public override string ToString() => string.Join(',', _byDomain.Values);

    public bool Equals(GtidSet? other) =>
        other is not null && other._byDomain.Count == _byDomain.Count && _byDomain.All(kv => other._byDomain.TryGetValue(kv.Key, out var g) && g == kv.Value);

    public override bool Equals(object? obj) => Equals(obj as GtidSet);

    public override int GetHashCode() => ToString().GetHashCode(StringComparison.Ordinal);
}
