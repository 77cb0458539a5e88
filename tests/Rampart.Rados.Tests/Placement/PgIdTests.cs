using Rampart.Rados.Placement;

namespace Rampart.Rados.Tests.Placement;

public class PgIdTests
{
    [Theory]
    [InlineData(1L, 0x1fu, "1.1f")]
    [InlineData(0L, 0u, "0.0")]
    [InlineData(12L, 0xabcdefu, "12.abcdef")]
    [InlineData(4294967296L, 0xffffffffu, "4294967296.ffffffff")]
    public void Format_ParseRoundTrip(long pool, uint seed, string text)
    {
        var pg = new PgId(pool, seed);
        Assert.Equal(text, pg.ToString());
        Assert.Equal(text, $"{pg}");
        Assert.Equal(pg, PgId.Parse(text));
    }

    [Fact]
    public void Parse_UppercaseHex_Accepted() => Assert.Equal(new PgId(1, 0x1f), PgId.Parse("1.1F"));

    [Theory]
    [InlineData("")]
    [InlineData("1")]
    [InlineData("1.")]
    [InlineData(".1f")]
    [InlineData("-1.1f")]
    [InlineData("1.1g")]
    [InlineData("1.123456789")]
    [InlineData("1.2.3")]
    [InlineData(" 1.1f")]
    public void Rejects_Malformed(string text)
    {
        Assert.False(PgId.TryParse(text, out _));
        var ex = Assert.Throws<FormatException>(() => PgId.Parse(text));
        Assert.Equal($"'{text}' is not a PG id (expected POOL.SEED_HEX, e.g. 1.1f)", ex.Message);
    }
}
