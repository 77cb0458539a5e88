using Rampart.Rbd.Images;

namespace Rampart.Rbd.Tests;

public sealed class ImageLayoutTests
{
    [Theory]
    [InlineData("img", "rbd", "img", null)]
    [InlineData("volumes/vol-1", "volumes", "vol-1", null)]
    [InlineData("images/cirros@base", "images", "cirros", "base")]
    [InlineData("cirros@base", "rbd", "cirros", "base")]
    public void Image_specs_parse_as_rbd_takes_them(string text, string pool, string image, string? snap)
    {
        var spec = ImageSpec.Parse(text);
        Assert.Equal(new ImageSpec(pool, image, snap), spec);
        Assert.Equal(text.Contains('/', StringComparison.Ordinal) ? text : $"rbd/{text}", spec.ToString());
    }

    [Theory]
    [InlineData("")]
    [InlineData("pool/")]
    [InlineData("/img")]
    [InlineData("a/b/c")]
    [InlineData("img@")]
    [InlineData("img@a@b")]
    public void Malformed_specs_are_refused_with_the_text(string text)
    {
        var e = Assert.Throws<ArgumentException>(() => ImageSpec.Parse(text));
        Assert.Contains($"'{text}'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Extents_cover_the_range_once_split_at_object_boundaries()
    {
        // order 12: 4 KiB objects; 10000 bytes from 3000 touch objects 0..3.
        var extents = Extents.Map(3000, 10000, 12).ToList();
        Assert.Equal([new(0, 3000, 1096, 0), new(1, 0, 4096, 1096), new(2, 0, 4096, 5192), new(3, 0, 712, 9288)], extents);
        Assert.Equal(10000, extents.Sum(e => e.Length));
        Assert.Empty(Extents.Map(5, 0, 12));
        Assert.Equal(3, Extents.ObjectCount(8193, 12));
        Assert.Equal(0, Extents.ObjectCount(0, 22));
    }

    [Fact]
    public void A_header_round_trips_through_its_omap_entries()
    {
        var header = new ImageHeader("abc123", 10L << 30, 22, 7, DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000),
            new ParentRecord(3, "p0", 5, 1L << 30), [new SnapRecord(6, "first", 1 << 20, true, DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000), 1L << 30)]);
        var back = ImageHeader.Decode("abc123", header.Entries());
        Assert.Equal(header with { Snaps = [] }, back with { Snaps = [] });
        Assert.Equal(header.Snaps, back.Snaps);
        Assert.Equal("rbd_data.abc123.0000000000000010", header.DataObject(16));
    }

    [Fact]
    public void A_damaged_header_is_a_clear_error_naming_the_field()
    {
        var entries = new ImageHeader("x", 1, 22, 0, DateTimeOffset.UnixEpoch, null, []).Entries().Where(e => e.Key != ImageHeader.SizeKey).ToList();
        var e = Assert.Throws<FormatException>(() => ImageHeader.Decode("x", entries));
        Assert.Contains("'size'", e.Message, StringComparison.Ordinal);
        entries.Add(new(ImageHeader.SizeKey, [1, 2, 3]));
        Assert.Throws<FormatException>(() => ImageHeader.Decode("x", entries));
        var badSnap = new ImageHeader("x", 1, 22, 0, DateTimeOffset.UnixEpoch, null, []).Entries().Append(new(ImageHeader.SnapKey(1), "{not json"u8.ToArray())).ToList();
        Assert.Throws<FormatException>(() => ImageHeader.Decode("x", badSnap));
    }
}
