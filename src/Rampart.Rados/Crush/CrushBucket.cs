using System.Collections.Immutable;

namespace Rampart.Rados.Crush;

/// <summary>
/// One child of a bucket: an OSD (id ≥ 0) or a bucket (id &lt; 0) with its CRUSH weight.
/// Weights are doubles in TiB by convention (Ceph's default crush weight is the device size in
/// TiB). A device's weight lives here, in its parent; a child bucket's weight is always the sum of
/// its own items (the map keeps it so).
/// </summary>
public readonly record struct CrushItem(int Id, double Weight)
{
    public bool IsDevice => Id >= 0;
}

/// <summary>A straw2 bucket (the only algorithm we implement; Ceph's default since Luminous).</summary>
public sealed record CrushBucket(int Id, string Name, CrushBucketType Type, ImmutableArray<CrushItem> Items)
{
    public double Weight
    {
        get
        {
            double sum = 0;
            foreach (var item in Items)
                sum += item.Weight;
            return sum;
        }
    }

    public int IndexOf(int id)
    {
        for (int i = 0; i < Items.Length; i++)
        {
            if (Items[i].Id == id)
                return i;
        }
        return -1;
    }
}
