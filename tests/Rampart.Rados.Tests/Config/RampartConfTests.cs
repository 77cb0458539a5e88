using Rampart.Common.Config;
using Rampart.Rados.Config;

namespace Rampart.Rados.Tests.Config;

public sealed class RampartConfTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rampart-conf-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string text)
    {
        var path = Path.Combine(_dir, "rampart.conf");
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void Get_LooksInDaemonThenTypeThenGlobal()
    {
        var conf = RampartConf.Load(Write("""
            [global]
            fsid = 6f0b3a4e-0000-4000-8000-000000000001
            mon allow pool delete = true
            osd_data = /var/lib/rampart/osd
            [osd]
            osd_data = /data/osd
            [osd.1]
            osd_data = /data/osd-one
            [mon.a]
            mon_addr = 127.0.0.1:6789
            [mon.b]
            mon_addr = 127.0.0.1:6790
            """));

        Assert.Equal("/data/osd-one", conf.Get("osd.1", "osd_data"));
        Assert.Equal("/data/osd", conf.Get("osd.2", "osd_data"));
        Assert.Equal("/var/lib/rampart/osd", conf.Get("global", "osd_data"));
        Assert.True(conf.GetBool("mon.a", "mon_allow_pool_delete", false));
        Assert.Equal(3, conf.GetInt("global", "osd_pool_default_size", 3));
        Assert.Equal(["a", "b"], conf.Monitors.Select(m => m.Name));
        Assert.Equal(6790, conf.Monitors[1].Address.Port);
    }

    [Fact]
    public void Rejects_MissingFile_WithHowToFix()
    {
        var e = Assert.Throws<ConfigException>(() => RampartConf.Load(Path.Combine(_dir, "nope.conf")));
        Assert.Contains("no such file (use -c FILE or set RAMPART_CONF)", e.Message);
    }

    [Fact]
    public void Rejects_MalformedLine_WithItsLineNumber()
    {
        var path = Write("[global]\nfsid = x\nthis line has no equals sign\n");
        var e = Assert.Throws<ConfigException>(() => RampartConf.Load(path));
        Assert.StartsWith($"{path}:3: error: syntax:", e.Diagnostics.Single().ToString());
    }

    [Fact]
    public void Rejects_BadValues_NamingKey()
    {
        var conf = RampartConf.Load(Write("[global]\nosd_pool_default_size = three\n[mon.a]\nmon_addr = localhost\n"));
        Assert.Equal("osd_pool_default_size = 'three' is not a whole number", Assert.Throws<ConfigException>(() => conf.GetInt("global", "osd_pool_default_size", 3)).Diagnostics[0].Message);
        Assert.Equal("mon_addr = 'localhost' is not ADDRESS:PORT", Assert.Throws<ConfigException>(() => conf.Monitors).Diagnostics[0].Message);
        Assert.Equal("[osd.0] needs 'osd_data' (in [osd.0], [osd] or [global])", Assert.Throws<ConfigException>(() => conf.Require("osd.0", "osd_data")).Diagnostics[0].Message);
    }

    [Fact]
    public void Resolve_PrefersFlagThenEnvironmentThenDefault()
    {
        Assert.Equal("/x.conf", RampartConf.Resolve("/x.conf"));
        Environment.SetEnvironmentVariable(RampartConf.EnvironmentVariable, "/env.conf");
        try { Assert.Equal("/env.conf", RampartConf.Resolve(null)); }
        finally { Environment.SetEnvironmentVariable(RampartConf.EnvironmentVariable, null); }
        Assert.Equal(RampartConf.DefaultPath, RampartConf.Resolve(null));
    }
}
