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
        for (int u = 0; u < table.Length; u++)
        {
            // v = u + 1 = 2^k * m with m in [√½, √2); ln(v / 2^16) = (k - 16) ln 2 + ln m.
            // Centring m on 1 keeps the series short and avoids cancellation near u = 0xffff.
            int v = u + 1;
            int k = 31 - int.LeadingZeroCount(v);
            double m = (double)v / (1 << k);
            if (m > Sqrt2)
            {
                m /= 2;
                k++;
            }
            table[u] = ((k - 16) * Ln2) + LnMantissa(m);
        }
        return table;
    }

    // ln m = 2 atanh(s), |s| = |m - 1| / (m + 1) < 0.18; the series converges to a double in ~12 terms.
    private static double LnMantissa(double m)
    {
        double s = (m - 1) / (m + 1);
        double s2 = s * s;
        double term = s;
        double sum = 0;
        for (int n = 1; n < 40; n += 2)
        {
            sum += term / n;
            term *= s2;
        }
        return 2 * sum;
    }

    // A literal rounds to the same double on every compiler and machine.
    private const double Ln2 = 0.693147180559945309417232121458176568;
    private const double Sqrt2 = 1.41421356237309504880168872420969808;
}
