using System.Collections.Immutable;

namespace Rampart.Rados.Crush;

/// <summary>
/// The CRUSH hierarchy and rules, immutable. Buckets have negative ids (-1, -2, … as in Ceph),
/// devices (OSDs) have ids ≥ 0 and appear as items of exactly one bucket, usually a host.
/// Every edit (<see cref="AddBucket"/>, <see cref="AddOsd"/>, <see cref="MoveBucket"/>,
/// <see cref="RemoveItem(int)"/>, <see cref="Reweight"/>) returns a new map and keeps each
/// bucket's item weights equal to its children's totals, as Ceph's crush_adjust_item_weight does.
/// </summary>
public sealed partial class CrushMap
{
    /// <summary>Ceph's choose_total_tries tunable (optimal profile): descents per replica before giving up.</summary>
    public const int ChooseTotalTries = 50;

    private readonly ImmutableSortedDictionary<int, CrushBucket> _buckets;
    private readonly ImmutableSortedDictionary<int, CrushRule> _rules;
    private readonly ImmutableDictionary<string, int> _bucketIdsByName;
    private readonly ImmutableDictionary<int, int> _parents;

    public static CrushMap Empty { get; } = new(
        ImmutableSortedDictionary<int, CrushBucket>.Empty, ImmutableSortedDictionary<int, CrushRule>.Empty);

    private CrushMap(ImmutableSortedDictionary<int, CrushBucket> buckets, ImmutableSortedDictionary<int, CrushRule> rules)
    {
        _buckets = buckets;
        _rules = rules;
        _bucketIdsByName = buckets.Values.ToImmutableDictionary(b => b.Name, b => b.Id, StringComparer.Ordinal);
        var parents = ImmutableDictionary.CreateBuilder<int, int>();
        foreach (var bucket in buckets.Values)
        {
            foreach (var item in bucket.Items)
                parents[item.Id] = bucket.Id;
        }
        _parents = parents.ToImmutable();
    }

    /// <summary>Buckets in id order (-N … -1).</summary>
    public IEnumerable<CrushBucket> Buckets => _buckets.Values;

    /// <summary>Rules in id order.</summary>
    public IEnumerable<CrushRule> Rules => _rules.Values;

    /// <summary>OSD ids present in the hierarchy, ascending.</summary>
    public IEnumerable<int> Devices => _parents.Keys.Where(id => id >= 0).Order();

    public bool TryGetBucket(int id, out CrushBucket bucket) => _buckets.TryGetValue(id, out bucket!);

    public CrushBucket? FindBucket(string name) =>
        _bucketIdsByName.TryGetValue(name, out int id) ? _buckets[id] : null;

    public CrushRule? FindRule(int id) => _rules.TryGetValue(id, out var rule) ? rule : null;

    public CrushRule? FindRule(string name) => _rules.Values.FirstOrDefault(r => r.Name == name);

    public bool ContainsDevice(int osd) => osd >= 0 && _parents.ContainsKey(osd);

    /// <summary>The bucket holding <paramref name="id"/>, or null for a root or an unknown id.</summary>
    public int? ParentOf(int id) => _parents.TryGetValue(id, out int parent) ? parent : null;

    /// <summary>CRUSH weight of an OSD or a bucket (sum of its items); 0 if unknown.</summary>
    public double WeightOf(int id)
    {
        if (id < 0)
            return _buckets.TryGetValue(id, out var bucket) ? bucket.Weight : 0;
        if (!_parents.TryGetValue(id, out int parent))
            return 0;
        var holder = _buckets[parent];
        return holder.Items[holder.IndexOf(id)].Weight;
    }

    /// <summary>"osd.3" for devices, the bucket's name otherwise.</summary>
    public string NameOf(int id) =>
        id >= 0 ? $"osd.{id}" : _buckets.TryGetValue(id, out var b) ? b.Name : $"bucket{id}";
}
