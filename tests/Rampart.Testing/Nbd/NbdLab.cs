using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using Rampart.Rbd.Nbd;

namespace Rampart.Testing;

/// <summary>
/// An in-process <see cref="NbdServer"/> over a <see cref="MemoryExportCatalog"/>, listening on 127.0.0.1 (a free
/// port) and on a Unix socket in a temp directory, plus a runner for the real NBD clients (qemu-img, nbdcopy, fio).
/// </summary>
public sealed class NbdLab : IAsyncDisposable
{
    private readonly Socket _tcp;
    private readonly Socket _unix;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _servingTcp;
    private readonly Task _servingUnix;

    public NbdLab()
    {
        Dir = Directory.CreateTempSubdirectory("rampart-nbd-").FullName;
        Tools = new Tools(Dir);
        Server = new NbdServer(Catalog, NullLogger.Instance);

        _tcp = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _tcp.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _tcp.Listen(64);
        Port = ((IPEndPoint)_tcp.LocalEndPoint!).Port;

        SocketPath = Path.Combine(Dir, "nbd.sock");
        _unix = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        _unix.Bind(new UnixDomainSocketEndPoint(SocketPath));
        _unix.Listen(64);

        _servingTcp = Server.ServeAsync(_tcp, _stop.Token);
        _servingUnix = Server.ServeAsync(_unix, _stop.Token);
    }

    public MemoryExportCatalog Catalog { get; } = new();

    public NbdServer Server { get; }

    /// <summary>A scratch directory for images and sockets, deleted on dispose.</summary>
    public string Dir { get; }

    public int Port { get; }

    public string SocketPath { get; }

    /// <summary>nbd://127.0.0.1:PORT/EXPORT, as qemu, libnbd and fio spell it.</summary>
    public string Uri(string export) => $"nbd://127.0.0.1:{Port}/{export}";

    /// <summary>nbd+unix:///EXPORT?socket=PATH.</summary>
    public string UnixUri(string export) => $"nbd+unix:///{export}?socket={SocketPath}";

    /// <summary>The real client tools, run in <see cref="Dir"/>.</summary>
    public Tools Tools { get; }

    public Task<(int Exit, string Out, string Err)> RunAsync(string tool, params string[] args) => Tools.RunAsync(tool, args);

    public Task<(int Exit, string Out, string Err)> RunAsync(TimeSpan limit, string tool, params string[] args) => Tools.RunAsync(limit, tool, args);

    public Task<string> OkAsync(string tool, params string[] args) => Tools.OkAsync(tool, args);

    public async ValueTask DisposeAsync()
    {
        Tools.Dispose();
        await _stop.CancelAsync();
        await Task.WhenAll(_servingTcp, _servingUnix).WaitAsync(TimeSpan.FromSeconds(10));
        _tcp.Dispose();
        _unix.Dispose();
        _stop.Dispose();
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
    }
}
