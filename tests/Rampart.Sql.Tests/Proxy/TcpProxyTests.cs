using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Rampart.Balancer;

namespace Rampart.Sql.Tests.Proxy;

/// <summary>The proxy on loopback with tiny backends that greet with their name (as a MySQL server speaks first).</summary>
public sealed class TcpProxyTests : IAsyncDisposable
{
    private readonly List<(TcpListener Listener, Task Loop)> _backends = [];
    private readonly CancellationTokenSource _stop = new();

    private IPEndPoint Backend(string name)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var loop = Task.Run(async () =>
        {
            var clients = new List<Socket>();
            try
            {
                while (true)
                {
                    var s = await listener.AcceptSocketAsync(_stop.Token);
                    clients.Add(s);
                    await s.SendAsync(Encoding.ASCII.GetBytes(name + "\n"));
                }
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException) { }
            foreach (var c in clients) c.Dispose();
        });
        _backends.Add((listener, loop));
        return (IPEndPoint)listener.LocalEndpoint;
    }

    private static async Task<(Socket Socket, string Greeting)> ConnectAsync(TcpProxy proxy)
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await s.ConnectAsync(proxy.LocalEndPoint);
        var buffer = new byte[64];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        int n = await s.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
        return (s, Encoding.ASCII.GetString(buffer, 0, n).Trim());
    }

    private static TcpProxy NewProxy(double holdSeconds = 5) =>
        new("test", new IPEndPoint(IPAddress.Loopback, 0), TimeSpan.FromSeconds(holdSeconds), NullLogger.Instance);

    [Fact]
    public async Task LeastConnections_SpreadsOverBackends()
    {
        await using var proxy = NewProxy();
        proxy.SetBackends([Backend("a"), Backend("b")]);
        var sockets = new List<Socket>();
        var greetings = new List<string>();
        for (int i = 0; i < 6; i++)
        {
            var (s, g) = await ConnectAsync(proxy);
            sockets.Add(s);
            greetings.Add(g);
        }
        Assert.Equal(3, greetings.Count(g => g == "a"));
        Assert.Equal(3, greetings.Count(g => g == "b"));
        foreach (var s in sockets) s.Dispose();
    }

    [Fact]
    public async Task RemovedBackend_ItsConnectionsAreClosed_NewOnesGoToTheNewBackend()
    {
        await using var proxy = NewProxy();
        var old = Backend("old");
        proxy.SetBackends([old]);
        var (client, greeting) = await ConnectAsync(proxy);
        Assert.Equal("old", greeting);

        proxy.SetBackends([Backend("new")]);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        Assert.Equal(0, await client.ReceiveAsync(new byte[16], SocketFlags.None, timeout.Token));
        client.Dispose();
        var (next, g2) = await ConnectAsync(proxy);
        Assert.Equal("new", g2);
        next.Dispose();
    }

    [Fact]
    public async Task NoBackend_NewConnectionWaits_UntilOneIsSet()
    {
        await using var proxy = NewProxy();
        proxy.SetBackends([]);
        var pending = ConnectAsync(proxy);
        await Task.Delay(100);
        Assert.False(pending.IsCompleted);
        proxy.SetBackends([Backend("late")]);
        var (s, g) = await pending;
        Assert.Equal("late", g);
        s.Dispose();
    }

    [Fact]
    public async Task NoBackend_WithinHold_ConnectionIsClosed()
    {
        await using var proxy = NewProxy(holdSeconds: 0.2);
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await s.ConnectAsync(proxy.LocalEndPoint);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        Assert.Equal(0, await s.ReceiveAsync(new byte[16], SocketFlags.None, timeout.Token));
        s.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        foreach (var (l, loop) in _backends)
        {
            l.Stop();
            await loop;
        }
        _stop.Dispose();
    }
}
