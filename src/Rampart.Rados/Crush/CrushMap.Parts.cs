using System.Collections.Immutable;

namespace Rampart.Rados.Crush;

/// <summary>Rebuilding a map from its parts (for decoding) and comparing maps by value.</summary>
public sealed partial class CrushMap
{
    /// <summary>
    /// A map holding exactly <paramref name="buckets"/> and <paramref name="rules"/>, as <see cref="Buckets"/>
    /// and <see cref="Rules"/> returned them. Item weights are kept as given (a decoded map must map
    /// exactly as the encoded one did). Throws <see cref="ArgumentException"/> naming the problem when the
    /// parts do not form a tree: duplicate ids or names, an item in two buckets, an unknown child bucket,
    /// a cycle, a bad weight, a rule whose root does not exist.
    /// </summary>
    public static CrushMap FromParts(IEnumerable<CrushBucket> buckets, IEnumerable<CrushRule> rules)
    {
        ArgumentNullException.ThrowIfNull(buckets);
        ArgumentNullException.ThrowIfNull(rules);
        var byId = ImmutableSortedDictionary.CreateBuilder<int, CrushBucket>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var bucket in buckets)
        {
            if (bucket.Id >= 0)
                throw new ArgumentException($"bucket '{bucket.Name}': id {bucket.Id} is not negative", nameof(buckets));
            if (string.IsNullOrWhiteSpace(bucket.Name))
                throw new ArgumentException($"bucket id {bucket.Id} has an empty name", nameof(buckets));
            if (bucket.Type == CrushBucketType.Osd || !Enum.IsDefined(bucket.Type))
                throw new ArgumentException($"bucket '{bucket.Name}': type {CrushBucketTypes.Name(bucket.Type)} is not a bucket type", nameof(buckets));
            if (!byId.TryAdd(bucket.Id, bucket))
                throw new ArgumentException($"bucket id {bucket.Id} appears twice", nameof(buckets));
            if (!names.Add(bucket.Name))
                throw new ArgumentException($"bucket name '{bucket.Name}' appears twice", nameof(buckets));
        }

        var parents = new Dictionary<int, int>();
        foreach (var bucket in byId.Values)
        {
            foreach (var item in bucket.Items)
            {
                string itemName = item.Id >= 0 ? $"osd.{item.Id}" : $"bucket id {item.Id}";
                if (item.Id < 0 && !byId.ContainsKey(item.Id))
                    throw new ArgumentException($"bucket '{bucket.Name}' holds {itemName}, which does not exist", nameof(buckets));
                if (!double.IsFinite(item.Weight) || item.Weight < 0)
                    throw new ArgumentException($"bucket '{bucket.Name}': {itemName} has weight {item.Weight}, not a finite number >= 0", nameof(buckets));
                if (!parents.TryAdd(item.Id, bucket.Id))
                    throw new ArgumentException($"{itemName} appears in more than one bucket", nameof(buckets));
            }
        }
        foreach (int id in byId.Keys)
        {
            int steps = 0;
            for (int at = id; parents.TryGetValue(at, out int up); at = up)
            {
                if (++steps > byId.Count)
                    throw new ArgumentException($"bucket '{byId[id].Name}' is inside itself (a cycle)", nameof(buckets));
            }
        }

        var byRule = ImmutableSortedDictionary.CreateBuilder<int, CrushRule>();
        var ruleNames = new HashSet<string>(StringComparer.Ordinal);
        foreach (var rule in rules)
        {
            if (!byRule.TryAdd(rule.Id, rule))
                throw new ArgumentException($"rule id {rule.Id} appears twice", nameof(rules));
            if (!ruleNames.Add(rule.Name))
                throw new ArgumentException($"rule name '{rule.Name}' appears twice", nameof(rules));
            if (!names.Contains(rule.Root))
                throw new ArgumentException($"rule '{rule.Name}': root '{rule.Root}' does not exist", nameof(rules));
        }
        return new CrushMap(byId.ToImmutable(), byRule.ToImmutable());
    }

    /// <summary>True when both maps hold the same buckets (ids, names, types, items and weights in order) and rules.</summary>
    public bool ContentEquals(CrushMap? other)
    {
        if (ReferenceEquals(this, other))
            return true;
        if (other is null || _buckets.Count != other._buckets.Count || _rules.Count != other._rules.Count)
            return false;
        foreach (var (id, bucket) in _buckets)
        {
            if (!other._buckets.TryGetValue(id, out var theirs)
                || bucket.Name != theirs.Name || bucket.Type != theirs.Type
                || !bucket.Items.SequenceEqual(theirs.Items))
                return false;
        }
        foreach (var (id, rule) in _rules)
        {
            if (!other._rules.TryGetValue(id, out var theirs) || rule != theirs)
                return false;
        }
        return true;
    }
}
