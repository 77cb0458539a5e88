using Rampart.Sql.Topology;

namespace Rampart.Sql.Tests.Topology;

public class GtidSetTests
{
    [Fact]
    public void Parse_List_KeepsOneGtidPerDomain()
    {
        var set = GtidSet.Parse("0-1-100, 1-2-7,\n0-3-90");
        Assert.Equal("0-1-100,1-2-7", set.ToString());
        Assert.Equal(new Gtid(1, 2, 7), set[1]);
    }

    [Theory]
    [InlineData("")]
    [InlineData(null)]
    [InlineData("  ")]
    public void Parse_Empty_IsEmpty(string? text) => Assert.True(GtidSet.Parse(text).IsEmpty);

    [Theory]
    [InlineData("0-1")]
    [InlineData("a-1-2")]
    [InlineData("3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5")]
    public void Parse_Malformed_Throws(string text) => Assert.Throws<FormatException>(() => GtidSet.Parse(text));

    [Theory]
    [InlineData("0-1-100", "0-1-99", true)]
    [InlineData("0-1-100", "0-2-100", true)]
    [InlineData("0-1-100", "0-1-101", false)]
    [InlineData("0-1-100", "0-1-5,1-1-1", false)]
    [InlineData("0-1-100,1-1-1", "0-1-5", true)]
    [InlineData("0-1-100", "", true)]
    public void Contains_ComparesSequencePerDomain(string a, string b, bool expected) =>
        Assert.Equal(expected, GtidSet.Parse(a).Contains(GtidSet.Parse(b)));

    [Fact]
    public void Union_TakesLaterPerDomain() =>
        Assert.Equal("0-2-10,1-1-4", GtidSet.Parse("0-1-5,1-1-4").Union(GtidSet.Parse("0-2-10")).ToString());
}
