using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Rampart.Sql.Config;
using Rampart.Sql.Topology;

namespace Rampart.Sql.Tests.Topology;

public sealed class NodeProbeTests
{
    [Fact]
    public async Task A_server_that_accepts_but_never_greets_is_down_within_the_check_timeout()
    {
        // A SIGSTOPped mysqld: the kernel completes the TCP handshake, the server never sends its greeting.
        using var frozen = new TcpListener(IPAddress.Loopback, 0);
        frozen.Start();
        int port = ((IPEndPoint)frozen.LocalEndpoint).Port;
        var config = new SqlConfig
        {
            Path = "test.conf",
            Nodes = [new SqlNodeConfig("n1", "127.0.0.1", port, 0, false)],
            Managers = [],
            User = "u", Password = "p", ReplUser = "r", ReplPassword = "p",
            CheckTimeout = TimeSpan.FromMilliseconds(200),
        };

        var clock = Stopwatch.StartNew();
        var seen = await new NodeProbe(config).ObserveAsync(config.Nodes[0], CancellationToken.None);

        Assert.False(seen.Reachable);
        Assert.Contains("no answer within 200 ms", seen.Error, StringComparison.Ordinal);
        // MySqlConnector's own connect timeout is whole seconds: the check must not wait for it.
        Assert.True(clock.ElapsedMilliseconds < 800, $"check took {clock.ElapsedMilliseconds} ms");
    }
}
