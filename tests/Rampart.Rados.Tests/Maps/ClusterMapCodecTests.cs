using System.Text;
using Rampart.Rados.Maps;
using Rampart.Rados.Tests.Mon;

namespace Rampart.Rados.Tests.Maps;

public class ClusterMapCodecTests
{
    private static ClusterMap RichMap() => Cluster.Fresh().ApplyAll(Cluster.Script()).Final.Map;

    [Fact]
    public void Round_trip_gives_an_equal_map_and_equal_bytes()
    {
        var map = RichMap();
        byte[] bytes = ClusterMapCodec.Encode(map);
        Assert.Equal(ClusterMapCodec.FormatVersion, bytes[0]);

        var decoded = ClusterMapCodec.Decode(bytes);

        Assert.Equal(map, decoded);
        Assert.Equal(bytes, ClusterMapCodec.Encode(decoded));
        Assert.Equal(map.Epoch, decoded.Epoch);
        Assert.Equal(map.Crush.Buckets.Select(b => b.Name), decoded.Crush.Buckets.Select(b => b.Name));
        Assert.Equal(new ulong[] { 2 }, decoded.FindPool("rbd")!.RemovedSnaps);
        Assert.Equal("x y", decoded.Options.Get("rampart_custom"));
        var osd3 = decoded.FindOsd(3)!;
        Assert.True(osd3 is { Up: true, In: false, AutoOut: true, DownSince: null }, osd3.ToString());
        Assert.Equal(0.75, decoded.FindOsd(1)!.Reweight);
    }

    [Fact]
    public void Decoded_map_places_1024_pgs_exactly_as_the_original()
    {
        var map = RichMap();
        var decoded = ClusterMapCodec.Decode(ClusterMapCodec.Encode(map));
        var pool = map.FindPool("rbd")!;
        Assert.Equal(1024u, pool.PgNum);
        foreach (var pg in map.PgsOf(pool))
        {
            Assert.Equal(map.RawSet(pg), decoded.RawSet(pg));
            Assert.Equal(map.UpSet(pg), decoded.UpSet(pg));
        }
        Assert.Equal(map.Locate("rbd", "rbd_data.1234.0000000000000001"), decoded.Locate("rbd", "rbd_data.1234.0000000000000001"));
    }

    [Fact]
    public void Maps_that_differ_are_not_equal()
    {
        var map = RichMap();
        Assert.NotEqual(map, map with { Epoch = map.Epoch + 1 });
        Assert.NotEqual(map, map with { Crush = map.Crush.Reweight(0, 3.0) });
        var pool = map.FindPool("rbd")!;
        Assert.NotEqual(map, map with { Pools = map.Pools.SetItem(pool.Id, pool with { RemovedSnaps = [] }) });
        Assert.Equal(map, map with { });
    }

    [Fact]
    public void Empty_input_is_reported()
    {
        var e = Assert.Throws<MapFormatException>(() => ClusterMapCodec.Decode([]));
        Assert.Equal("cluster map: no data (0 bytes)", e.Message);
    }

    [Fact]
    public void Unknown_version_is_reported()
    {
        var e = Assert.Throws<MapFormatException>(() => ClusterMapCodec.Decode([9, (byte)'{', (byte)'}']));
        Assert.Equal("cluster map: unsupported format version 9 (expected 1)", e.Message);
    }

    [Theory]
    [InlineData("{not json")]
    [InlineData("[]")]
    [InlineData("{\"fsid\":\"6f1c8a2e-0b7d-4c1e-9a55-3d2f4e6a7b80\"}")]
    [InlineData("null")]
    public void Malformed_json_is_reported(string json)
    {
        byte[] bytes = [1, .. Encoding.UTF8.GetBytes(json)];
        var e = Assert.Throws<MapFormatException>(() => ClusterMapCodec.Decode(bytes));
        Assert.StartsWith("cluster map: ", e.Message);
        Assert.True(e.Message.StartsWith("cluster map: malformed data: ", StringComparison.Ordinal)
            || e.Message == "cluster map: null document", e.Message);
    }

    [Fact]
    public void Random_bytes_are_reported()
    {
        var random = new Random(42);
        for (int i = 0; i < 50; i++)
        {
            var bytes = new byte[random.Next(1, 200)];
            random.NextBytes(bytes);
            bytes[0] = 1;
            Assert.Throws<MapFormatException>(() => ClusterMapCodec.Decode(bytes));
        }
    }

    [Fact]
    public void Inconsistent_content_is_reported()
    {
        string json = Encoding.UTF8.GetString(ClusterMapCodec.Encode(RichMap()).AsSpan(1));
        // host2 moved under rack1: pretend it holds a bucket that does not exist.
        string broken = json.Replace("\"items\":[]", "\"items\":[{\"id\":-99,\"weight\":1}]", StringComparison.Ordinal);
        if (broken == json)
            broken = json.Replace("\"epoch\":", "\"epoch\":-", StringComparison.Ordinal);
        var e = Assert.Throws<MapFormatException>(() => ClusterMapCodec.Decode([1, .. Encoding.UTF8.GetBytes(broken)]));
        Assert.StartsWith("cluster map: invalid content: ", e.Message);

        string badType = json.Replace("\"type\":\"rack\"", "\"type\":\"datacenter\"", StringComparison.Ordinal);
        e = Assert.Throws<MapFormatException>(() => ClusterMapCodec.Decode([1, .. Encoding.UTF8.GetBytes(badType)]));
        Assert.Equal("cluster map: invalid content: bucket 'rack1': unknown bucket type 'datacenter'", e.Message);
    }
}
