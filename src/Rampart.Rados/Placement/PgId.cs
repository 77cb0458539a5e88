using System.Globalization;

namespace Rampart.Rados.Placement;

/// <summary>
/// A placement group: pool id and seed (Ceph's pg_t m_pool, m_seed). Text form as Ceph prints it:
/// decimal pool, a dot, lowercase hex seed without leading zeros — "1.1f".
/// </summary>
public readonly record struct PgId(long PoolId, uint Seed) : ISpanFormattable
{
    public override string ToString() => ToString(null, null);

    public string ToString(string? format, IFormatProvider? formatProvider) =>
        string.Create(CultureInfo.InvariantCulture, $"{PoolId}.{Seed:x}");

    public bool TryFormat(Span<char> destination, out int charsWritten, ReadOnlySpan<char> format, IFormatProvider? provider) =>
        destination.TryWrite(CultureInfo.InvariantCulture, $"{PoolId}.{Seed:x}", out charsWritten);

    /// <summary>Accepts "POOL.SEED_HEX"; pool is a non-negative decimal, seed 1-8 hex digits.</summary>
    public static bool TryParse(ReadOnlySpan<char> text, out PgId pg)
    {
        pg = default;
        int dot = text.IndexOf('.');
        if (dot <= 0 || dot == text.Length - 1 || text.Length - dot - 1 > 8)
            return false;
        if (!long.TryParse(text[..dot], NumberStyles.None, CultureInfo.InvariantCulture, out long pool))
            return false;
        if (!uint.TryParse(text[(dot + 1)..], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out uint seed))
            return false;
        pg = new PgId(pool, seed);
        return true;
    }

    public static PgId Parse(string text) =>
        TryParse(text, out var pg) ? pg : throw new FormatException($"'{text}' is not a PG id (expected POOL.SEED_HEX, e.g. 1.1f)");
}
