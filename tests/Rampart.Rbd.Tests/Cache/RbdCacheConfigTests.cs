using Rampart.Common.Config;
using Rampart.Rados.Config;
using Rampart.Rbd.Cache;

namespace Rampart.Rbd.Tests.Cache;

public sealed class RbdCacheConfigTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rampart-cache-conf-").FullName;

    private RampartConf Conf(string text)
    {
        var path = Path.Combine(_dir, "rampart.conf");
        File.WriteAllText(path, text);
        return RampartConf.Load(path);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Accepts_NothingSet_AsLibrbdDefaults()
    {
        var config = RbdCacheConfig.FromConf(Conf("[global]\nfsid = x\n"), "client.admin");

        Assert.False(config.Enabled);
        Assert.Equal(32L << 20, config.Size);
        Assert.Equal(24L << 20, config.MaxDirty);
        Assert.Equal(16L << 20, config.TargetDirty);
        Assert.Equal(TimeSpan.FromSeconds(1), config.MaxDirtyAge);
        Assert.True(config.WritethroughUntilFlush);
    }

    [Fact]
    public void Accepts_ValuesFromTheEntityThenClientThenGlobalSections()
    {
        var conf = Conf("[global]\nrbd cache = true\nrbd_cache_size = 1G\n[client]\nrbd_cache_size = 64M\nrbd_cache_max_dirty_age = 2.5\n[client.admin]\nrbd_cache_max_dirty = 48MiB\nrbd_cache_target_dirty = 1048576\n");

        var config = RbdCacheConfig.FromConf(conf, "client.admin");

        Assert.True(config.Enabled);
        Assert.Equal(64L << 20, config.Size);
        Assert.Equal(48L << 20, config.MaxDirty);
        Assert.Equal(1L << 20, config.TargetDirty);
        Assert.Equal(TimeSpan.FromSeconds(2.5), config.MaxDirtyAge);
        var other = RbdCacheConfig.FromConf(conf, "client.other");
        Assert.Equal(64L << 20, other.Size);
        Assert.Equal(24L << 20, other.MaxDirty);
    }

    [Fact]
    public void Accepts_MaxDirtyZero_AsWriteThrough()
    {
        var config = RbdCacheConfig.FromConf(Conf("[client]\nrbd_cache = true\nrbd_cache_max_dirty = 0\n"), "client.admin");

        Assert.True(config.WriteThrough);
    }

    [Fact]
    public void Rejects_EveryBadValueAtOnce_NamingEntityValueAndWhatIsExpected()
    {
        var conf = Conf("[client]\nrbd_cache = maybe\nrbd_cache_size = 12X\nrbd_cache_max_dirty_age = -1\n");

        var error = Assert.Throws<ConfigException>(() => RbdCacheConfig.FromConf(conf, "client.admin"));

        Assert.Equal(
        [
            "[client.admin] rbd_cache = 'maybe' is not true or false",
            "[client.admin] rbd_cache_size = '12X' is not a size (bytes, or with K, M, G, T)",
            "[client.admin] rbd_cache_max_dirty_age = '-1' is not seconds, 0 or more",
        ], error.Diagnostics.Select(d => d.Message));
        Assert.All(error.Diagnostics, d => Assert.Equal(conf.Path, d.File));
    }

    [Fact]
    public void Rejects_MaxDirtyAboveSize_AndTargetAboveMaxDirty()
    {
        var conf = Conf("[client]\nrbd_cache_size = 16M\nrbd_cache_max_dirty = 24M\nrbd_cache_target_dirty = 32M\n");

        var error = Assert.Throws<ConfigException>(() => RbdCacheConfig.FromConf(conf, "client.admin"));

        Assert.Equal(
        [
            "[client.admin] rbd_cache_max_dirty (24M) is more than rbd_cache_size (16M): lower it or raise rbd_cache_size",
            "[client.admin] rbd_cache_target_dirty (32M) is more than rbd_cache_max_dirty (24M): lower it or raise rbd_cache_max_dirty",
        ], error.Diagnostics.Select(d => d.Message));
    }

    [Theory]
    [InlineData("4096", 4096L)]
    [InlineData("4K", 4096L)]
    [InlineData("32M", 32L << 20)]
    [InlineData("32MiB", 32L << 20)]
    [InlineData("32 MB", 32L << 20)]
    [InlineData("2g", 2L << 30)]
    public void Accepts_Sizes(string text, long expected)
    {
        Assert.True(RbdCacheConfig.TryParseSize(text, out long value));
        Assert.Equal(expected, value);
    }

    [Theory]
    [InlineData("")]
    [InlineData("M")]
    [InlineData("-1")]
    [InlineData("1.5M")]
    [InlineData("99999999999T")]
    public void Rejects_Sizes(string text) => Assert.False(RbdCacheConfig.TryParseSize(text, out _));
}
