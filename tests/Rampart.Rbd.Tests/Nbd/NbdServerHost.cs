using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using Rampart.Rbd.Nbd;
using Rampart.Testing;

namespace Rampart.Rbd.Tests.Nbd;

/// <summary>An <see cref="NbdServer"/> on a loopback port (or a Unix socket) over a <see cref="MemoryExportCatalog"/>.</summary>
internal sealed class NbdServerHost : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _serving;
    private readonly string? _socketDirectory;

    public NbdServerHost(MemoryExportCatalog catalog, NbdServerConfig? config = null, bool unix = false)
    {
        Catalog = catalog;
        Server = new NbdServer(catalog, NullLogger.Instance, config);
        if (unix)
        {
            _socketDirectory = Directory.CreateTempSubdirectory("rampart-nbd-").FullName;
            _listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            _listener.Bind(new UnixDomainSocketEndPoint(Path.Combine(_socketDirectory, "nbd.sock")));
        }
        else
        {
            _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        }
        _listener.Listen(64);
        EndPoint = _listener.LocalEndPoint!;
        _serving = Server.ServeAsync(_listener, _stop.Token);
    }

    public MemoryExportCatalog Catalog { get; }

    public NbdServer Server { get; }

    public EndPoint EndPoint { get; }

    public Task Serving => _serving;

    /// <summary>Stops the server; every connection must be gone and every device handle disposed within the deadline.</summary>
    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        await _serving.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(0, Catalog.OpenHandles);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_serving.IsCompleted) await StopAsync();
        _listener.Dispose();
        _stop.Dispose();
        if (_socketDirectory is not null) Directory.Delete(_socketDirectory, recursive: true);
    }
}
