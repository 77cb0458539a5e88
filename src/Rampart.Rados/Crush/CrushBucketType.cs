namespace Rampart.Rados.Crush;

/// <summary>
/// Bucket types, a subset of Ceph's default type list with Ceph's numbers (osd 0, host 1, rack 3,
/// root 11), so a larger number means higher in the hierarchy.
/// </summary>
public enum CrushBucketType
{
    Osd = 0,
    Host = 1,
    Rack = 3,
    Root = 11,
}

public static class CrushBucketTypes
{
    /// <summary>Ceph's spelling: "osd", "host", "rack", "root".</summary>
    public static string Name(CrushBucketType type) => type switch
    {
        CrushBucketType.Osd => "osd",
        CrushBucketType.Host => "host",
        CrushBucketType.Rack => "rack",
        CrushBucketType.Root => "root",
        _ => ((int)type).ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    public static bool TryParse(string name, out CrushBucketType type)
    {
        switch (name)
        {
            case "osd": type = CrushBucketType.Osd; return true;
            case "host": type = CrushBucketType.Host; return true;
            case "rack": type = CrushBucketType.Rack; return true;
            case "root": type = CrushBucketType.Root; return true;
            default: type = default; return false;
        }
    }
}
