using Rampart.Rados.Placement;

namespace Rampart.Rados.Tests.Placement;

public class ObjectLocatorTests
{
    [Fact]
    public void HashName_IsXxHash32OfUtf8_Pinned()
    {
        Assert.Equal(0x02cc5d05u, ObjectLocator.HashName("")); // XxHash32 seed 0 of no bytes
        Assert.Equal(ObjectLocator.HashName("rbd_header.1234"), ObjectLocator.HashName("rbd_header.1234"));
        Assert.NotEqual(ObjectLocator.HashName("a"), ObjectLocator.HashName("b"));
    }

    [Theory]
    [InlineData(1u, 0u)]
    [InlineData(2u, 1u)]
    [InlineData(12u, 15u)]
    [InlineData(16u, 15u)]
    [InlineData(17u, 31u)]
    [InlineData(0x80000000u, 0x7fffffffu)]
    [InlineData(0x80000001u, 0xffffffffu)]
    public void PgNumMask_CephRule(uint pgNum, uint expected) => Assert.Equal(expected, ObjectLocator.PgNumMask(pgNum));

    [Fact]
    public void StableMod_PowerOfTwo_IsPlainModulo()
    {
        for (uint x = 0; x < 1000; x++)
            Assert.Equal(x % 16, ObjectLocator.StableMod(x, 16, 15));
    }

    [Fact]
    public void StableMod_AlwaysBelowPgNum()
    {
        for (uint pgNum = 1; pgNum < 70; pgNum++)
        {
            for (uint x = 0; x < 300; x++)
                Assert.InRange(ObjectLocator.StableMod(x * 2654435761u, pgNum, ObjectLocator.PgNumMask(pgNum)), 0u, pgNum - 1);
        }
    }

    [Fact]
    public void Locate_PgNum12To16_KeepsThreeQuartersAndSplitsTheRest()
    {
        const int objects = 10_000;
        int kept = 0;
        int keptByPlainModulo = 0;
        for (int i = 0; i < objects; i++)
        {
            string name = $"obj-{i}";
            var before = ObjectLocator.Locate(3, name, 12);
            var after = ObjectLocator.Locate(3, name, 16);
            if (before == after)
                kept++;
            else
                Assert.Equal(before.Seed + 8, after.Seed); // PG p splits into p and p + 8, nothing else moves
            uint hash = ObjectLocator.HashName(name);
            if (hash % 12 == hash % 16)
                keptByPlainModulo++;
        }
        Assert.InRange(kept / (double)objects, 0.72, 0.78);
        Assert.True(keptByPlainModulo < objects / 2);
    }

    [Fact]
    public void PlacementSeed_IsCephHashOfSeedAndPool()
    {
        // crush_hash32_rjenkins1_2(0x1f, 1), from Ceph's C source.
        Assert.Equal(3399634974u, ObjectLocator.PlacementSeed(new PgId(1, 0x1f)));
        Assert.NotEqual(ObjectLocator.PlacementSeed(new PgId(1, 5)), ObjectLocator.PlacementSeed(new PgId(2, 5)));
    }
}
