using System.Diagnostics;
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
    private readonly List<Process> _processes = [];

    public NbdLab()
    {
        Dir = Directory.CreateTempSubdirectory("rampart-nbd-").FullName;
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

    /// <summary>Runs a tool to completion (killed, with its children, past the limit) and returns its exit code and output.</summary>
    public async Task<(int Exit, string Out, string Err)> RunAsync(string tool, params string[] args) =>
        await RunAsync(TimeSpan.FromSeconds(120), tool, args);

    public async Task<(int Exit, string Out, string Err)> RunAsync(TimeSpan limit, string tool, params string[] args)
    {
        var process = Process.Start(new ProcessStartInfo(tool, args)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Dir,
        }) ?? throw new InvalidOperationException($"{tool} did not start");
        lock (_processes) _processes.Add(process);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(limit);
        }
        catch (TimeoutException)
        {
            Kill(process);
            throw new TimeoutException($"{tool} {string.Join(' ', args)} still running after {limit.TotalSeconds:0} s; stderr: {await stderr}");
        }
        return (process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Like <see cref="RunAsync(string, string[])"/>, failing with the tool's output unless it exits 0.</summary>
    public async Task<string> OkAsync(string tool, params string[] args)
    {
        var (exit, output, error) = await RunAsync(tool, args);
        if (exit != 0) throw new InvalidOperationException($"{tool} {string.Join(' ', args)} exited {exit}:\n{output}\n{error}");
        return output;
    }

    private static void Kill(Process process)
    {
        try { if (!process.HasExited) process.Kill(entireProcessTree: true); }
        catch (InvalidOperationException) { }
    }

    public async ValueTask DisposeAsync()
    {
        lock (_processes)
        {
            foreach (var process in _processes)
            {
                Kill(process);
                process.Dispose();
            }
        }
        await _stop.CancelAsync();
        await Task.WhenAll(_servingTcp, _servingUnix).WaitAsync(TimeSpan.FromSeconds(10));
        _tcp.Dispose();
        _unix.Dispose();
        _stop.Dispose();
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
    }
}
