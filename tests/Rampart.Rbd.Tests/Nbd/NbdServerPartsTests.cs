using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Rampart.Rbd.Nbd;
using Rampart.Testing;

namespace Rampart.Rbd.Tests.Nbd;

/// <summary>The small pieces around the server: warning rate limit, in-flight limit, configuration checks, metrics.</summary>
public sealed class NbdServerPartsTests
{
    [Fact]
    public void WarningGate_PassesOncePerInterval()
    {
        var time = new FakeTimeProvider();
        var gate = new WarningGate(TimeSpan.FromSeconds(1), time);
        Assert.True(gate.TryPass());
        Assert.False(gate.TryPass());
        time.Advance(TimeSpan.FromMilliseconds(999));
        Assert.False(gate.TryPass());
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.True(gate.TryPass());
        Assert.False(gate.TryPass());
    }

    [Fact]
    public async Task InFlightLimit_AdmitsALoneOversizedRequest_AndDrainsWhenAllExit()
    {
        var limit = new InFlightLimit(maxRequests: 2, maxBytes: 100);
        await limit.EnterAsync(500, CancellationToken.None);          // alone: admitted despite the byte budget
        var second = limit.EnterAsync(10, CancellationToken.None).AsTask();
        Assert.False(second.IsCompleted);
        limit.Exit(500);
        await second.WaitAsync(TimeSpan.FromSeconds(5));
        await limit.EnterAsync(10, CancellationToken.None);
        var third = limit.EnterAsync(0, CancellationToken.None).AsTask();   // the request count is full
        Assert.False(third.IsCompleted);
        var drained = limit.DrainAsync();
        limit.Exit(10);
        await third.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.False(drained.IsCompleted);
        limit.Exit(10);
        limit.Exit(0);
        await drained.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(0, limit.Requests);
    }

    [Fact]
    public async Task InFlightLimit_WaitIsCancellable()
    {
        var limit = new InFlightLimit(maxRequests: 1, maxBytes: 100);
        await limit.EnterAsync(1, CancellationToken.None);
        using var cancel = new CancellationTokenSource();
        var waiting = limit.EnterAsync(1, cancel.Token).AsTask();
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        Assert.Equal(1, limit.Requests);
    }

    [Theory]
    [InlineData(0, 1, 1)]
    [InlineData(1, 0, 1)]
    [InlineData(1, 1, 0)]
    public void Config_OutOfRange_IsRefused(int requests, long bytes, int handshakeSeconds)
    {
        var config = new NbdServerConfig { MaxInFlightRequests = requests, MaxInFlightBytes = bytes, HandshakeTimeout = TimeSpan.FromSeconds(handshakeSeconds) };
        Assert.Throws<ArgumentOutOfRangeException>(() => new NbdServer(new MemoryExportCatalog(), NullLogger.Instance, config));
    }

    [Fact]
    public async Task Meter_PublishesRequestsErrorsAndMalformed()
    {
        var seen = new Dictionary<string, long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) => { if (instrument.Meter.Name == "Rampart.Nbd") l.EnableMeasurementEvents(instrument); };
        listener.SetMeasurementEventCallback<long>((instrument, value, _, _) => { lock (seen) seen[instrument.Name] = seen.GetValueOrDefault(instrument.Name) + value; });
        listener.Start();

        var catalog = new MemoryExportCatalog();
        catalog.Add("d", new MemoryBlockDevice(4096));
        await using (var host = new NbdServerHost(catalog))
        {
            var (client, _, _) = await NbdTestClient.OpenAsync(host.EndPoint, "d");
            await using (client)
            {
                Assert.Equal(NbdErrno.EINVAL, await client.CommandAsync(NbdCommand.Read, 4096, 1));
                await client.SendAsync(new byte[NbdRequest.Size]);   // zero magic
                Assert.True(await client.ServerClosedAsync());
            }
            await Wait.UntilAsync(() => Task.FromResult(host.Server.Counters.Malformed == 1), TimeSpan.FromSeconds(10), "malformed counted");
        }
        // Other servers in parallel tests publish on the same meter: at least ours must be there.
        lock (seen)
        {
            Assert.True(seen.GetValueOrDefault("rampart.nbd.connections") >= 1);
            Assert.True(seen.GetValueOrDefault("rampart.nbd.requests") >= 1);
            Assert.True(seen.GetValueOrDefault("rampart.nbd.errors") >= 1);
            Assert.True(seen.GetValueOrDefault("rampart.nbd.malformed") >= 1);
        }
    }

    private sealed class BrokenCatalog : IExportCatalog
    {
        public ValueTask<IBlockDevice?> OpenAsync(string name, CancellationToken cancellationToken) =>
            throw new BlockDeviceException(BlockDeviceException.EIO, "monitors unreachable");

        public ValueTask<IReadOnlyList<string>> ListAsync(CancellationToken cancellationToken) =>
            throw new InvalidOperationException("listing failed");
    }

    [Fact]
    public async Task CatalogFailures_AreTheClientsErrorOrEndOnlyThatConnection()
    {
        var server = new NbdServer(new BrokenCatalog(), NullLogger.Instance);
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        using var stop = new CancellationTokenSource();
        var serving = server.ServeAsync(listener, stop.Token);

        await using (var client = await NbdTestClient.ConnectAsync(listener.LocalEndPoint!))
        {
            await client.SendOptionAsync(NbdOption.Go, NbdTestClient.InfoRequest("rbd/disk"));
            var (header, data) = await client.ReadOptionReplyAsync();
            Assert.Equal(NbdReplyType.ErrUnknown, header.Type);
            Assert.Equal("cannot open export 'rbd/disk': monitors unreachable", NbdTestClient.Text(data));

            await client.SendOptionAsync(NbdOption.List);
            Assert.True(await client.ServerClosedAsync());
        }
        Assert.False(serving.IsCompleted);
        await stop.CancelAsync();
        await serving.WaitAsync(TimeSpan.FromSeconds(10));
    }
}
