using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Rampart.Sql.Config;
using Rampart.Sql.Topology;

namespace Rampart.Sql.Tests.Topology;

/// <summary>Timing-sensitive: runs alone, not beside tests that keep the thread pool's few threads busy.</summary>
[CollectionDefinition(nameof(NodeProbeTests), DisableParallelization = true)]
[Collection(nameof(NodeProbeTests))]
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

        var probe = new NodeProbe(config);
        // The first check also loads and compiles MySqlConnector, which on 2 busy cores can take longer than the
        // deadline; the manager checks every interval, so the steady state is what is timed. Timed off xUnit's
        // synchronization context, whose two threads other tests may keep busy.
        await probe.ObserveAsync(config.Nodes[0], CancellationToken.None);
        var (seen, took) = await Task.Run(async () =>
        {
            var clock = Stopwatch.StartNew();
            var observed = await probe.ObserveAsync(config.Nodes[0], CancellationToken.None);
            return (observed, clock.ElapsedMilliseconds);
        });

        Assert.False(seen.Reachable);
        Assert.Contains("no answer within 200 ms", seen.Error, StringComparison.Ordinal);
        // MySqlConnector's own connect timeout is whole seconds: the check must not wait for it.
        Assert.True(took < 800, $"check took {took} ms");
    }
}
