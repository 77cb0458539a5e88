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

    private static async Task<(Socket Socket, string Greeting)> ConnectAsync(TcpProxy proxy)
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await s.ConnectAsync(proxy.LocalEndPoint);
        var buffer = new byte[64];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        int n = await s.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
        return (s, Encoding.ASCII.GetString(buffer, 0, n).Trim());
    }

    private static TcpProxy NewProxy(bool kernel, double holdSeconds = 5) =>
        new("test", new IPEndPoint(IPAddress.Loopback, 0), TimeSpan.FromSeconds(holdSeconds), NullLogger.Instance, kernel);

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task LeastConnections_SpreadsOverBackends(bool kernel)
    {
        await using var proxy = NewProxy(kernel);
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

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task RemovedBackend_ItsConnectionsAreClosed_NewOnesGoToTheNewBackend(bool kernel)
    {
        await using var proxy = NewProxy(kernel);
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

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task NoBackend_NewConnectionWaits_UntilOneIsSet(bool kernel)
    {
        await using var proxy = NewProxy(kernel);
        proxy.SetBackends([]);
        var pending = ConnectAsync(proxy);
        await Task.Delay(100);
        Assert.False(pending.IsCompleted);
        proxy.SetBackends([Backend("late")]);
        var (s, g) = await pending;
        Assert.Equal("late", g);
        s.Dispose();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task NoBackend_WithinHold_ConnectionIsClosed(bool kernel)
    {
        await using var proxy = NewProxy(kernel, holdSeconds: 0.2);
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await s.ConnectAsync(proxy.LocalEndPoint);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        Assert.Equal(0, await s.ReceiveAsync(new byte[16], SocketFlags.None, timeout.Token));
        s.Dispose();
    }

    /// <summary>A backend that greets with <paramref name="name"/> (as a MySQL server speaks first), then hands each
    /// connection to <paramref name="serve"/> — by default it holds the connection open until the test ends.</summary>
    private IPEndPoint Backend(string name, Func<Socket, Task>? serve = null)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var loop = Task.Run(async () =>
        {
            var served = new List<Task>();
            try
            {
                while (true)
                {
                    var s = await listener.AcceptSocketAsync(_stop.Token);
                    s.NoDelay = true;
                    served.Add(Task.Run(async () =>
                    {
                        using (s)
                        {
                            await s.SendAsync(Encoding.ASCII.GetBytes(name + "\n"));
                            await (serve ?? HoldAsync)(s);
                        }
                    }));
                }
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException) { }
            await Task.WhenAll(served);
        });
        _backends.Add((listener, loop));
        return (IPEndPoint)listener.LocalEndpoint;
    }

    private async Task HoldAsync(Socket s)
    {
        try { await Task.Delay(Timeout.Infinite, _stop.Token); }
        catch (OperationCanceledException) { }
    }

    private static async Task<byte[]> ReadToEndAsync(Socket s, CancellationToken ct)
    {
        var all = new MemoryStream();
        var buffer = new byte[64 * 1024];
        int n;
        while ((n = await s.ReceiveAsync(buffer, SocketFlags.None, ct)) > 0) all.Write(buffer, 0, n);
        return all.ToArray();
    }

    private static async Task ReadExactlyAsync(Socket s, byte[] into, CancellationToken ct)
    {
        for (int got = 0; got < into.Length;)
        {
            int n = await s.ReceiveAsync(into.AsMemory(got), SocketFlags.None, ct);
            if (n == 0) throw new EndOfStreamException($"after {got} of {into.Length} bytes");
            got += n;
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Relay_CarriesManyRoundTripsAndLargeTransfersBothWays(bool kernel)
    {
        await using var proxy = NewProxy(kernel);
        proxy.SetBackends([Backend("hello", async s =>
        {
            var buffer = new byte[64 * 1024];
            int n;
            while ((n = await s.ReceiveAsync(buffer, SocketFlags.None)) > 0) await s.SendAsync(buffer.AsMemory(0, n));
        })]);
        var (client, greeting) = await ConnectAsync(proxy);
        using var _ = client;
        Assert.Equal("hello", greeting);
        Assert.Equal(kernel && proxy.KernelRelayed ? 1 : 0, proxy.KernelRelayedConnections);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var reply = new byte[100];
        for (int i = 0; i < 200; i++)   // request/response, like a SQL client
        {
            var request = Enumerable.Repeat((byte)i, 100).ToArray();
            await client.SendAsync(request);
            await ReadExactlyAsync(client, reply, timeout.Token);
            Assert.Equal(request, reply);
        }
        var big = new byte[8 << 20];   // larger than every socket buffer on the way: flow control must hold
        Random.Shared.NextBytes(big);
        var sending = client.SendAsync(big);
        var echoed = new byte[big.Length];
        await ReadExactlyAsync(client, echoed, timeout.Token);
        await sending;
        Assert.True(big.AsSpan().SequenceEqual(echoed));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task ClientSendsThenCloses_BackendGetsEveryByteThenTheEnd(bool kernel)
    {
        await using var proxy = NewProxy(kernel);
        var received = new List<Task<byte[]>>();
        var gate = new Lock();
        var backend = Backend("hello", s =>
        {
            var read = ReadToEndAsync(s, _stop.Token);
            lock (gate) received.Add(read);
            return read;
        });
        proxy.SetBackends([backend]);
        var sent = new List<byte[]>();
        for (int i = 0; i < 30; i++)   // closing at once after the last bytes, as a client's COM_QUIT does
        {
            var (client, _) = await ConnectAsync(proxy);
            var data = new byte[1000 + i * 1000];
            Random.Shared.NextBytes(data);
            await client.SendAsync(data);
            client.Dispose();
            sent.Add(data);
        }
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (true)
        {
            lock (gate) if (received.Count == sent.Count) break;
            await Task.Delay(10, timeout.Token);
        }
        Task<byte[]>[] reads;
        lock (gate) reads = [.. received];
        var got = (await Task.WhenAll(reads).WaitAsync(timeout.Token)).Select(Convert.ToBase64String).ToHashSet();
        Assert.All(sent, d => Assert.Contains(Convert.ToBase64String(d), got));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task BackendSendsThenCloses_ClientGetsEveryByteThenTheEnd(bool kernel)
    {
        await using var proxy = NewProxy(kernel);
        var last = new byte[200_000];
        Random.Shared.NextBytes(last);
        proxy.SetBackends([Backend("hello", async s => await s.SendAsync(last))]);
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        using var _ = s;
        await s.ConnectAsync(proxy.LocalEndPoint);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var all = await ReadToEndAsync(s, timeout.Token);
        Assert.True("hello\n"u8.ToArray().Concat(last).SequenceEqual(all));
    }

    /// <summary>A listener whose accept queue is full drops SYNs: a connect to it hangs like one to a cut-off host.</summary>
    private static (Socket Listener, List<Socket> Fillers) SilentBackend()
    {
        var silent = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        silent.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        silent.Listen(0);
        var fillers = new List<Socket>();
        for (int i = 0; i < 3; i++)
        {
            var f = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            _ = f.ConnectAsync(silent.LocalEndPoint!);
            fillers.Add(f);
        }
        return (silent, fillers);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task SilentBackend_ConnectGivesUpAfter5s_ClientClosedOnceTheHoldIsOver(bool kernel)
    {
        var (silent, fillers) = SilentBackend();
        await using var proxy = NewProxy(kernel, holdSeconds: 1);
        proxy.SetBackends([(IPEndPoint)silent.LocalEndPoint!]);
        var started = DateTime.UtcNow;
        var (client, nothing) = await ConnectAsync(proxy).WaitAsync(TimeSpan.FromSeconds(15));
        Assert.Equal("", nothing);
        Assert.InRange((DateTime.UtcNow - started).TotalSeconds, 4, 12);   // one 5 s connect attempt, not the kernel's ~2 min
        client.Dispose();
        foreach (var f in fillers.Append(silent)) f.Dispose();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task SilentBackend_RemovedWhileConnecting_ItsClientIsClosed_NewClientsGoToTheNewRoute(bool kernel)
    {
        var (silent, fillers) = SilentBackend();
        await using var proxy = NewProxy(kernel, holdSeconds: 30);
        proxy.SetBackends([(IPEndPoint)silent.LocalEndPoint!]);
        var pending = ConnectAsync(proxy);
        using (var trying = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
            while (!proxy.Load().ContainsKey((IPEndPoint)silent.LocalEndPoint!)) await Task.Delay(10, trying.Token);   // it is connecting
        proxy.SetBackends([Backend("next")]);
        var (closed, nothing) = await pending.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("", nothing);   // closed, as every connection to a removed backend
        closed.Dispose();
        var (s, g) = await ConnectAsync(proxy).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("next", g);
        s.Dispose();
        foreach (var f in fillers.Append(silent)) f.Dispose();
    }

    private static bool RootOnLinuxX64 => OperatingSystem.IsLinux() && Environment.UserName == "root"
        && System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture == System.Runtime.InteropServices.Architecture.X64;

    /// <summary>Whether the peer ended the connection (FIN, or the abort a redirected socket gets) within 10 s.</summary>
    private static async Task<bool> EndedAsync(Socket s)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try { return await s.ReceiveAsync(new byte[16], SocketFlags.None, timeout.Token) == 0; }
        catch (SocketException) { return true; }
    }

    /// <summary>A backend that greets, then echoes; it records the peer of every connection it accepts.</summary>
    private IPEndPoint EchoBackend(string name, List<EndPoint> peers) => Backend(name, async s =>
    {
        lock (peers) peers.Add(s.RemoteEndPoint!);
        var buffer = new byte[1024];
        int n;
        try { while ((n = await s.ReceiveAsync(buffer, SocketFlags.None, _stop.Token)) > 0) await s.SendAsync(buffer.AsMemory(0, n)); }
        catch (Exception e) when (e is OperationCanceledException or SocketException) { }
    });

    private static async Task<bool> EchoesAsync(Socket s)
    {
        await s.SendAsync("ping"u8.ToArray());
        var reply = new byte[4];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await ReadExactlyAsync(s, reply, timeout.Token);
        return reply.AsSpan().SequenceEqual("ping"u8);
    }

    [Fact]
    public async Task RedirectLocal_ASingleBackendIsConnectedStraight_ItsLeavingAbortsOnlyRedirectedConnections()
    {
        await using var proxy = new TcpProxy("test", new IPEndPoint(IPAddress.Loopback, 0), TimeSpan.FromSeconds(5), NullLogger.Instance, redirectLocal: true);
        List<EndPoint> seenByA = [], seenByB = [];
        var a = EchoBackend("a", seenByA);
        var b = EchoBackend("b", seenByB);
        proxy.SetBackends([a]);
        Assert.Equal(RootOnLinuxX64, proxy.RedirectsLocalClients);
        if (!proxy.RedirectsLocalClients) return;

        var (client, greeting) = await ConnectAsync(proxy);
        Assert.Equal("a", greeting);
        lock (seenByA) Assert.Equal(client.LocalEndPoint, Assert.Single(seenByA));   // no proxy in between
        Assert.Equal(0, proxy.ActiveConnections);
        Assert.True(await EchoesAsync(client));
        var bystander = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await bystander.ConnectAsync(a);   // to the backend itself, not through the proxy
        using (var greeted = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
            await ReadExactlyAsync(bystander, new byte[2], greeted.Token);   // "a\n"

        proxy.SetBackends([b]);
        Assert.True(await EndedAsync(client));
        Assert.True(await EchoesAsync(bystander));   // only what the proxy sent there is cut
        var (next, g2) = await ConnectAsync(proxy);
        Assert.Equal("b", g2);
        lock (seenByB) Assert.Equal(next.LocalEndPoint, Assert.Single(seenByB));

        proxy.SetBackends([a, b]);   // two backends: balancing needs the proxy again
        Assert.False(proxy.RedirectsLocalClients);
        Assert.True(await EchoesAsync(next));   // b stayed in the set: its connection too
        var (balanced, _) = await ConnectAsync(proxy);
        Assert.Equal(1, proxy.ActiveConnections);
        proxy.SetBackends([a]);   // b leaves two changes after its clients were redirected: they still go
        Assert.True(await EndedAsync(next));
        foreach (var s in new[] { client, bystander, next, balanced }) s.Dispose();
    }

    [Fact]
    public async Task RedirectLocal_AConnectStuckOnAnUnreachableBackend_IsAbortedWhenTheBackendIsReplaced()
    {
        var (silent, fillers) = SilentBackend();
        await using var proxy = new TcpProxy("test", new IPEndPoint(IPAddress.Loopback, 0), TimeSpan.FromSeconds(5), NullLogger.Instance, redirectLocal: true);
        proxy.SetBackends([(IPEndPoint)silent.LocalEndPoint!]);
        if (!proxy.RedirectsLocalClients) return;
        var stuck = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var connecting = stuck.ConnectAsync(proxy.LocalEndPoint);
        using (var trying = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
            while (!SynSentTo((IPEndPoint)silent.LocalEndPoint!)) await Task.Delay(10, trying.Token);   // redirected, it waits on the silent backend

        proxy.SetBackends([Backend("next")]);
        await Assert.ThrowsAnyAsync<SocketException>(() => connecting.WaitAsync(TimeSpan.FromSeconds(10)));
        var (s, g) = await ConnectAsync(proxy);
        Assert.Equal("next", g);
        foreach (var f in fillers.Append(silent).Append(stuck).Append(s)) f.Dispose();
    }

    /// <summary>Whether a socket on this host sits in SYN_SENT towards <paramref name="to"/> (/proc/net/tcp).</summary>
    private static bool SynSentTo(IPEndPoint to)
    {
        string remote = $"0100007F:{to.Port:X4}";
        return File.ReadLines("/proc/net/tcp").Skip(1).Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Any(f => f[2] == remote && f[3] == "02");
    }

    [Fact]
    public async Task RedirectLocal_EndsWithTheProxy()
    {
        var a = Backend("a");
        var proxy = new TcpProxy("test", new IPEndPoint(IPAddress.Loopback, 0), TimeSpan.FromSeconds(5), NullLogger.Instance, redirectLocal: true);
        proxy.SetBackends([a]);
        bool redirected = proxy.RedirectsLocalClients;
        await proxy.DisposeAsync();
        Assert.False(proxy.RedirectsLocalClients);
        if (!redirected) return;
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var refused = await Assert.ThrowsAsync<SocketException>(() => s.ConnectAsync(proxy.LocalEndPoint));
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
        s.Dispose();
    }

    [Fact]
    public async Task KernelRelay_IsUsedWhenRunningAsRootOnLinuxX64()
    {
        await using var proxy = NewProxy(kernel: true);
        if (RootOnLinuxX64) Assert.True(proxy.KernelRelayed);
        await using var plain = NewProxy(kernel: false);
        Assert.False(plain.KernelRelayed);
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
