namespace Rampart.Rados.Crush;

/// <summary>
/// Ceph's CRUSH_HASH_RJENKINS1 (src/crush/hash.c): Robert Jenkins' 32-bit mix with Ceph's seed.
/// Bit-exact with Ceph, so the same inputs give the same draws on every machine and process.
/// </summary>
public static class CrushHash
{
    private const uint Seed = 1315423911;

    /// <summary>crush_hash32_rjenkins1_2(a, b).</summary>
    public static uint Hash32(uint a, uint b)
    {
        uint hash = Seed ^ a ^ b;
        uint x = 231232;
        uint y = 1232;
        Mix(ref a, ref b, ref hash);
        Mix(ref x, ref a, ref hash);
        Mix(ref b, ref y, ref hash);
        return hash;
    }

    /// <summary>crush_hash32_rjenkins1_3(a, b, c).</summary>
    public static uint Hash32(uint a, uint b, uint c)
    {
        uint hash = Seed ^ a ^ b ^ c;
        uint x = 231232;
        uint y = 1232;
        Mix(ref a, ref b, ref hash);
        Mix(ref c, ref x, ref hash);
        Mix(ref y, ref a, ref hash);
        Mix(ref b, ref x, ref hash);
        Mix(ref y, ref c, ref hash);
        return hash;
    }

    // crush_hashmix(a, b, c); unchecked wrap-around is the point.
    private static void Mix(ref uint a, ref uint b, ref uint c)
    {
        unchecked
        {
            a -= b; a -= c; a ^= c >> 13;
            b -= c; b -= a; b ^= a << 8;
            c -= a; c -= b; c ^= b >> 13;
            a -= b; a -= c; a ^= c >> 12;
            b -= c; b -= a; b ^= a << 16;
            c -= a; c -= b; c ^= b >> 5;
            a -= b; a -= c; a ^= c >> 3;
            b -= c; b -= a; b ^= a << 10;
            c -= a; c -= b; c ^= b >> 15;
        }
    }
}
