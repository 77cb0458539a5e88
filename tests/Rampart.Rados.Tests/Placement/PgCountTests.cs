using Rampart.Rados.Placement;

namespace Rampart.Rados.Tests.Placement;

public class PgCountTests
{
    [Theory]
    [InlineData(3, 3, 3, 32u)]     // the article's example: 33.3 → 32
    [InlineData(12, 3, 1, 512u)]   // 400: 256 is 36% below, so go up
    [InlineData(10, 3, 1, 256u)]   // 333: 256 is 23% below, keep it
    [InlineData(12, 3, 10, 32u)]   // 40 → 32
    [InlineData(12, 2, 12, 64u)]   // 50 → 64
    [InlineData(100, 3, 1, 4096u)] // 3333 → 4096
    [InlineData(1, 3, 10, 4u)]     // 3.3 → 4
    [InlineData(0, 3, 1, 1u)]
    public void Default_RoundsLikeCephPgCalc(int osds, int size, int pools, uint expected) =>
        Assert.Equal(expected, PgCount.Default(osds, size, pools));

    [Fact]
    public void Rejects_ZeroSizeOrPools()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => PgCount.Default(3, 0, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => PgCount.Default(3, 3, 0));
    }
}
