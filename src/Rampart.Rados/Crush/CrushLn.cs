namespace Rampart.Rados.Crush;

/// <summary>
/// ln((u + 1) / 65536) for every 16-bit u, the straw2 draw before dividing by weight.
/// Ceph uses fixed-point tables (crush_ln); we build a double table with +, *, / only, because
/// IEEE basic operations are exact-reproducible everywhere while Math.Log may differ by an ulp
/// between libm versions, and a flipped near-tie would move a PG on one client but not another.
/// </summary>
internal static class CrushLn
{
    /// <summary>Indexed by the low 16 bits of the hash; entry 0xffff is exactly 0.</summary>
    public static readonly double[] Table = Build();

    private static double[] Build()
    {
        var table = new double[0x10000];
        double ln2 = Ln2();
        for (int u = 0; u < table.Length; u++)
        {
            // v = u + 1 = 2^k * m with m in [1, 2); ln(v / 2^16) = (k - 16) ln 2 + ln m.
            int v = u + 1;
            int k = 31 - int.LeadingZeroCount(v);
            double m = (double)v / (1 << k);
            table[u] = ((k - 16) * ln2) + LnMantissa(m);
        }
        return table;
    }

    // ln m = 2 atanh(s), s = (m - 1) / (m + 1) <= 1/3; the series converges to a double in ~30 terms.
    private static double LnMantissa(double m)
    {
        double s = (m - 1) / (m + 1);
        double s2 = s * s;
        double term = s;
        double sum = 0;
        for (int n = 1; n < 80; n += 2)
        {
            sum += term / n;
            term *= s2;
        }
        return 2 * sum;
    }

    // ln 2 = 2 atanh(1/3), computed the same way so the table depends on nothing but arithmetic.
    private static double Ln2() => LnMantissa(2.0);
}
