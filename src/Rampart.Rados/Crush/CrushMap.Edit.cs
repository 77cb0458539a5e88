using System.Collections.Immutable;

namespace Rampart.Rados.Crush;

/// <summary>
/// Builder helpers behind `osd crush add-bucket|add|move|remove|reweight` and `osd crush rule`.
/// Invalid edits throw <see cref="ArgumentException"/> with a message that names the entity.
/// </summary>
public sealed partial class CrushMap
{
    /// <summary>Adds an empty bucket, under <paramref name="parent"/> or as a new root. Ids are the
    /// lowest unused negative id, as Ceph's crush_add_bucket picks them.</summary>
    public CrushMap AddBucket(string name, CrushBucketType type, string? parent = null)
    {
        if (string.IsNullOrWhiteSpace(name))
            throw new ArgumentException("bucket name must not be empty", nameof(name));
        if (type == CrushBucketType.Osd)
            throw new ArgumentException($"bucket '{name}': type osd is for devices; use AddOsd", nameof(type));
        if (_bucketIdsByName.ContainsKey(name))
            throw new ArgumentException($"bucket '{name}' already exists", nameof(name));

        int id = -1;
        while (_buckets.ContainsKey(id))
            id--;
        var buckets = _buckets.Add(id, new CrushBucket(id, name, type, ImmutableArray<CrushItem>.Empty));
        if (parent is not null)
            buckets = Link(buckets, RequireBucket(parent).Id, new CrushItem(id, 0));
        return new CrushMap(buckets, _rules);
    }

    public CrushMap AddHost(string name, string root = "default") => AddBucket(name, CrushBucketType.Host, root);

    /// <summary>Places OSD <paramref name="osd"/> under bucket <paramref name="host"/> with a CRUSH weight.</summary>
    public CrushMap AddOsd(int osd, double weight, string host)
    {
        if (osd < 0)
            throw new ArgumentException($"osd.{osd}: osd ids are >= 0", nameof(osd));
        ValidateWeight(weight, $"osd.{osd}");
        if (_parents.TryGetValue(osd, out int existing))
            throw new ArgumentException($"osd.{osd} already exists under '{_buckets[existing].Name}'; use MoveItem or Reweight", nameof(osd));
        var parent = RequireBucket(host);
        return Rebuild(Link(_buckets, parent.Id, new CrushItem(osd, weight)));
    }

    /// <summary>Moves a bucket (with its subtree) under <paramref name="newParent"/>.</summary>
    public CrushMap MoveBucket(string name, string newParent)
    {
        var bucket = RequireBucket(name);
        var target = RequireBucket(newParent);
        for (int? at = target.Id; at is int a; at = ParentOf(a))
        {
            if (a == bucket.Id)
                throw new ArgumentException($"bucket '{name}' cannot move under '{newParent}', which is inside it", nameof(newParent));
        }
        var buckets = Unlink(_buckets, bucket.Id);
        return Rebuild(Link(buckets, target.Id, new CrushItem(bucket.Id, 0)));
    }

    /// <summary>Moves an OSD to another bucket, keeping its weight.</summary>
    public CrushMap MoveOsd(int osd, string newParent)
    {
        double weight = WeightOf(RequireDevice(osd));
        var target = RequireBucket(newParent);
        return Rebuild(Link(Unlink(_buckets, osd), target.Id, new CrushItem(osd, weight)));
    }

    /// <summary>Removes an OSD, or an empty bucket (Ceph refuses a non-empty one too).</summary>
    public CrushMap RemoveItem(int id)
    {
        if (id >= 0)
            return Rebuild(Unlink(_buckets, RequireDevice(id)));
        if (!_buckets.TryGetValue(id, out var bucket))
            throw new ArgumentException($"bucket id {id} does not exist", nameof(id));
        if (bucket.Items.Length > 0)
            throw new ArgumentException($"bucket '{bucket.Name}' is not empty ({bucket.Items.Length} items)", nameof(id));
        if (_rules.Values.FirstOrDefault(r => r.Root == bucket.Name) is { } rule)
            throw new ArgumentException($"bucket '{bucket.Name}' is the root of rule '{rule.Name}'", nameof(id));
        return Rebuild(Unlink(_buckets, id).Remove(id));
    }

    public CrushMap RemoveItem(string name) =>
        TryParseOsdName(name, out int osd) ? RemoveItem(osd) : RemoveItem(RequireBucket(name).Id);

    /// <summary>Sets an OSD's CRUSH weight (`osd crush reweight`), propagating to its ancestors.</summary>
    public CrushMap Reweight(int osd, double weight)
    {
        ValidateWeight(weight, $"osd.{osd}");
        int parent = _parents[RequireDevice(osd)];
        var holder = _buckets[parent];
        var items = holder.Items.SetItem(holder.IndexOf(osd), new CrushItem(osd, weight));
        return Rebuild(_buckets.SetItem(parent, holder with { Items = items }));
    }

    public CrushMap AddRule(CrushRule rule)
    {
        if (_rules.ContainsKey(rule.Id))
            throw new ArgumentException($"rule id {rule.Id} already exists ('{_rules[rule.Id].Name}')", nameof(rule));
        if (FindRule(rule.Name) is not null)
            throw new ArgumentException($"rule '{rule.Name}' already exists", nameof(rule));
        RequireBucket(rule.Root);
        return new CrushMap(_buckets, _rules.Add(rule.Id, rule));
    }

    public CrushMap RemoveRule(string name)
    {
        var rule = FindRule(name) ?? throw new ArgumentException($"rule '{name}' does not exist", nameof(name));
        return new CrushMap(_buckets, _rules.Remove(rule.Id));
    }

    private static bool TryParseOsdName(string name, out int osd)
    {
        osd = -1;
        return name.StartsWith("osd.", StringComparison.Ordinal)
            && int.TryParse(name.AsSpan(4), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out osd);
    }

    private static void ValidateWeight(double weight, string entity)
    {
        if (!double.IsFinite(weight) || weight < 0)
            throw new ArgumentException($"{entity}: weight {weight} must be a finite number >= 0", nameof(weight));
    }

    private CrushBucket RequireBucket(string name) =>
        FindBucket(name) ?? throw new ArgumentException($"bucket '{name}' does not exist", nameof(name));

    private int RequireDevice(int osd) =>
        ContainsDevice(osd) ? osd : throw new ArgumentException($"osd.{osd} is not in the crush map", nameof(osd));

    private static ImmutableSortedDictionary<int, CrushBucket> Link(
        ImmutableSortedDictionary<int, CrushBucket> buckets, int parent, CrushItem item)
    {
        var holder = buckets[parent];
        return buckets.SetItem(parent, holder with { Items = holder.Items.Add(item) });
    }

    private ImmutableSortedDictionary<int, CrushBucket> Unlink(ImmutableSortedDictionary<int, CrushBucket> buckets, int id)
    {
        if (!_parents.TryGetValue(id, out int parent))
            return buckets;
        var holder = buckets[parent];
        return buckets.SetItem(parent, holder with { Items = holder.Items.RemoveAt(holder.IndexOf(id)) });
    }

    // Rewrites every bucket-item weight as its child's total, bottom-up, so ancestors follow any edit.
    private CrushMap Rebuild(ImmutableSortedDictionary<int, CrushBucket> buckets)
    {
        var totals = new Dictionary<int, double>();
        var result = buckets.ToBuilder();

        double Total(int id)
        {
            if (totals.TryGetValue(id, out double known))
                return known;
            var bucket = buckets[id];
            var items = bucket.Items.ToBuilder();
            double sum = 0;
            for (int i = 0; i < items.Count; i++)
            {
                if (items[i].Id < 0)
                    items[i] = items[i] with { Weight = Total(items[i].Id) };
                sum += items[i].Weight;
            }
            result[id] = bucket with { Items = items.ToImmutable() };
            totals[id] = sum;
            return sum;
        }

        foreach (int id in buckets.Keys)
            Total(id);
        return new CrushMap(result.ToImmutable(), _rules);
    }
}
