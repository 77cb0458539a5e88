using System.Text;
using Rampart.Rados.Maps;
using Rampart.Rados.Mon;

namespace Rampart.Rados.Tests.Mon;

public class MonCommandCodecTests
{
    [Fact]
    public void Every_command_kind_round_trips()
    {
        var kinds = new HashSet<Type>();
        foreach (var command in Cluster.Script().Append(new OsdIn(5)))
        {
            byte[] bytes = MonCommandCodec.Encode(command);
            var decoded = MonCommandCodec.Decode(bytes);
            Assert.Equal(command.GetType(), decoded.GetType());
            Assert.Equal(bytes, MonCommandCodec.Encode(decoded));
            if (command is not (AuthAdd or AuthGetOrCreate or AuthCaps or PgActivate or PgActivations)) // arrays compare by reference
                Assert.Equal(command, decoded);
            kinds.Add(command.GetType());
        }
        var all = typeof(MonCommand).Assembly.GetTypes().Where(t => t.IsSubclassOf(typeof(MonCommand))).ToHashSet();
        Assert.True(all.SetEquals(kinds), string.Join(", ", all.Except(kinds).Select(t => t.Name)));
    }

    [Fact]
    public void Wire_form_names_the_command()
    {
        string json = Encoding.UTF8.GetString(MonCommandCodec.Encode(new PoolCreate("rbd", 64)).AsSpan(1));
        Assert.Equal("{\"cmd\":\"osd_pool_create\",\"name\":\"rbd\",\"pg_num\":64,\"size\":3,\"min_size\":2,\"rule\":null,\"application\":null}", json);
    }

    [Theory]
    [InlineData("{\"cmd\":\"osd_format\"}")]
    [InlineData("{\"cmd\":\"osd_out\"}")]
    [InlineData("{\"cmd\":\"osd_pool_create\",\"name\":null}")]
    [InlineData("{\"id\":3}")]
    public void Bad_commands_are_reported(string json)
    {
        var e = Assert.Throws<MapFormatException>(() => MonCommandCodec.Decode([1, .. Encoding.UTF8.GetBytes(json)]));
        Assert.StartsWith("monitor command: malformed data: ", e.Message);
    }
}
