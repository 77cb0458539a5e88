namespace Rampart.Rbd;

/// <summary>`[pool/]image[@snap]` as the rbd tool takes it; the pool defaults to "rbd".</summary>
public sealed record ImageSpec(string Pool, string Image, string? Snap = null)
{
    public const string DefaultPool = "rbd";

    public static ImageSpec Parse(string text)
    {
        string rest = text;
        string? snap = null;
        int at = rest.IndexOf('@', StringComparison.Ordinal);
        if (at >= 0)
        {
            snap = rest[(at + 1)..];
            rest = rest[..at];
        }
        string pool = DefaultPool;
        int slash = rest.IndexOf('/', StringComparison.Ordinal);
        if (slash >= 0)
        {
            pool = rest[..slash];
            rest = rest[(slash + 1)..];
        }
        if (pool.Length == 0 || rest.Length == 0 || rest.Contains('/', StringComparison.Ordinal) || snap is { Length: 0 } || (snap?.Contains('@', StringComparison.Ordinal) ?? false))
            throw new ArgumentException($"Error EINVAL: '{text}' is not an image spec ([pool/]image[@snap])");
        return new ImageSpec(pool, rest, snap);
    }

    public ImageSpec WithoutSnap() => this with { Snap = null };

    public override string ToString() => Snap is null ? $"{Pool}/{Image}" : $"{Pool}/{Image}@{Snap}";
}
