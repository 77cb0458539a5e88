using Rampart.Common.Config;
using Rampart.Sql.Config;

namespace Rampart.Sql.Tests.Config;

public sealed class SqlConfigTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rampart-sqlconf-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string text)
    {
        var path = Path.Combine(_dir, "rampart.conf");
        File.WriteAllText(path, text);
        return path;
    }

    private const string Good = """
        [global]
        fsid = x

        [sql]
        user = rampart
        password = secret
        repl_user = repl
        repl_password = replpass
        check_interval = 0.2
        failure threshold = 3
        proxy_write = 127.0.0.1:6033

        [sql.node.n1]
        address = 127.0.0.1:3311

        [sql.node.n2]
        address = 127.0.0.1:3312
        priority = 200

        [sql.node.n3]
        address = 127.0.0.1:3313
        never_promote = yes

        [sql.manager.a]
        addr = 127.0.0.1:7100
        """;

    [Fact]
    public void Accepts_FullConfig()
    {
        var c = SqlConfig.Load(Write(Good));
        Assert.Equal(["n1", "n2", "n3"], c.Nodes.Select(n => n.Name));
        Assert.Equal(200, c.Node("n2").Priority);
        Assert.True(c.Node("n3").NeverPromote);
        Assert.Equal(TimeSpan.FromSeconds(0.2), c.CheckInterval);
        Assert.Equal(3, c.FailureThreshold);
        Assert.Equal(10, c.MaxFailedChecks);
        Assert.Equal("127.0.0.1:6033", c.ProxyWrite!.ToString());
        Assert.Null(c.ProxyRead);
        Assert.Equal("a", c.Managers.Single().Name);
        Assert.Equal("repl", c.ReplUser);
        Assert.True(c.ProxyRedirectLocal);
        Assert.Null(c.Managers.Single().ProxyRedirectLocal);
    }

    [Fact]
    public void ProxyRedirectLocal_CanBeTurnedOffForAllOrForOneManager()
    {
        var c = SqlConfig.Load(Write(Good.Replace("addr = 127.0.0.1:7100", "addr = 127.0.0.1:7100\nproxy_redirect_local = no")));
        Assert.True(c.ProxyRedirectLocal);
        Assert.False(c.Managers.Single().ProxyRedirectLocal);
        var off = SqlConfig.Load(Write(Good.Replace("proxy_write = 127.0.0.1:6033", "proxy_write = 127.0.0.1:6033\nproxy_redirect_local = false")));
        Assert.False(off.ProxyRedirectLocal);
        var path = Write(Good.Replace("proxy_write = 127.0.0.1:6033", "proxy_write = 127.0.0.1:6033\nproxy_redirect_local = maybe"));
        var e = Assert.Throws<ConfigException>(() => SqlConfig.Load(path));
        Assert.Equal($"{path}:12: error: proxy_redirect_local: sql: proxy_redirect_local = 'maybe' is not true or false", Assert.Single(e.Diagnostics).ToString());
    }

    [Fact]
    public void Rejects_BadValues_NamingFileLineAndKey()
    {
        var path = Write(Good.Replace("priority = 200", "priority = high").Replace("check_interval = 0.2", "check_interval = soon"));
        var e = Assert.Throws<ConfigException>(() => SqlConfig.Load(path));
        Assert.Equal(
            [
                $"{path}:9: error: check_interval: check_interval = 'soon' is not a number of seconds in 0.01-3600",
                $"{path}:18: error: priority: sql.node.n2: priority = 'high' is not a whole number in 0-1000000",
            ],
            e.Diagnostics.OrderBy(d => d.Line).Select(d => d.ToString()));
    }

    [Fact]
    public void Rejects_NodeWithoutAddress()
    {
        var path = Write(Good.Replace("address = 127.0.0.1:3313", "adress = 127.0.0.1:3313"));
        var e = Assert.Throws<ConfigException>(() => SqlConfig.Load(path));
        Assert.Equal(
            [
                $"{path}:20: error: address: [sql.node.n3] needs address = HOST:PORT",
                $"{path}:21: error: adress: [sql.node.n3]: unknown key 'adress' (known: address, priority, never_promote)",
            ],
            e.Diagnostics.OrderBy(d => d.Line).Select(d => d.ToString()));
    }

    [Fact]
    public void Rejects_MissingUser()
    {
        var path = Write(Good.Replace("user = rampart\n", ""));
        var e = Assert.Throws<ConfigException>(() => SqlConfig.Load(path));
        Assert.Equal($"{path}:4: error: user: [sql] needs 'user'", e.Diagnostics.Single().ToString());
    }

    [Fact]
    public void Rejects_MaxFailedChecksBelowThreshold()
    {
        var path = Write(Good.Replace("failure threshold = 3", "failure threshold = 3\nmax_failed_checks = 2"));
        var e = Assert.Throws<ConfigException>(() => SqlConfig.Load(path));
        Assert.Equal($"{path}:11: error: max_failed_checks: max_failed_checks 2 is below failure_threshold 3; raise it", e.Diagnostics.Single().ToString());
    }
    [Fact]
    public void Rejects_UnknownKey()
    {
        var path = Write(Good.Replace("failure threshold = 3", "failure treshold = 3"));
        var e = Assert.Throws<ConfigException>(() => SqlConfig.Load(path));
        Assert.StartsWith($"{path}:10: error: failure treshold: [sql]: unknown key 'failure treshold' (known: user, password,", e.Diagnostics.Single().ToString(), StringComparison.Ordinal);
    }
}
