using Rampart.Rados.Crush;

namespace Rampart.Rados.Tests.Crush;

public class CrushHashTests
{
    // Expected values come from compiling Ceph's src/crush/hash.c macros with gcc.
    [Theory]
    [InlineData(0u, 0u, 430787817u)]
    [InlineData(1u, 2u, 3079532188u)]
    [InlineData(0x1fu, 1u, 3399634974u)]
    public void Hash32_TwoInputs_MatchesCephRjenkins(uint a, uint b, uint expected) =>
        Assert.Equal(expected, CrushHash.Hash32(a, b));

    [Theory]
    [InlineData(0u, 0u, 0u, 2050749362u)]
    [InlineData(1u, 2u, 3u, 1935332395u)]
    [InlineData(123456u, 0xffffffffu, 2u, 4108534006u)]
    public void Hash32_ThreeInputs_MatchesCephRjenkins(uint a, uint b, uint c, uint expected) =>
        Assert.Equal(expected, CrushHash.Hash32(a, b, c));

    [Fact]
    public void LnTable_AgreesWithMathLog_AndEndsAtZero()
    {
        Assert.Equal(0.0, CrushLn.Table[0xffff]);
        for (int u = 0; u < 0x10000; u++)
        {
            double expected = Math.Log((u + 1) / 65536.0);
            Assert.True(Math.Abs(CrushLn.Table[u] - expected) <= 1e-14 * Math.Max(1, Math.Abs(expected)), $"u={u}");
        }
        // Pinned bit patterns: the table is built from +, *, / only, so it must never change.
        Assert.Equal(unchecked((long)0xc0262e42fefa39efUL), BitConverter.DoubleToInt64Bits(CrushLn.Table[0]));
        Assert.Equal(unchecked((long)0xbffab5a6c261083bUL), BitConverter.DoubleToInt64Bits(CrushLn.Table[12344]));
        Assert.Equal(unchecked((long)0xbef0000800055559UL), BitConverter.DoubleToInt64Bits(CrushLn.Table[0xfffe]));
    }
}
