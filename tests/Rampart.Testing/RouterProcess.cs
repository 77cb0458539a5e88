using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using Rampart.Vrrp.Daemon;

namespace Rampart.Testing;

/// <summary>A daemon (rampart or keepalived) running in a router namespace, with its output kept for assertions.</summary>
public sealed partial class RouterProcess : IDisposable
{
    private readonly List<string> _lines = [];
    private readonly Process _process;

    public RouterProcess(Process process, string name, string? controlSocket)
    {
        _process = process;
        Name = name;
        ControlSocket = controlSocket;
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_lines) _lines.Add(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_lines) _lines.Add(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public string Name { get; }
    public string? ControlSocket { get; }
    public int Pid => _process.Id;
    public bool HasExited => _process.HasExited;
    public string Output { get { lock (_lines) return string.Join('\n', _lines); } }

    /// <summary>
    /// SIGKILL to the whole process group at once (the daemon runs under setsid, so its pid is the group id).
    /// Killing the tree one process at a time is not a crash for keepalived: its VRRP child gets SIGTERM from
    /// PR_SET_PDEATHSIG when the parent dies first, and stops gracefully with a priority-0 advert.
    /// </summary>
    public void Crash()
    {
        Kill(-_process.Id, 9);
        try { _process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
        _process.WaitForExit();
    }

    /// <summary>SIGTERM and wait for a clean exit.</summary>
    public bool Terminate(TimeSpan limit)
    {
        Kill(_process.Id, 15);
        return _process.WaitForExit(limit);
    }

    public void Hangup() => Kill(_process.Id, 1);

    /// <summary>SIGSTOP: the process freezes with its sockets open — a hung host, as peers see it (no reset).</summary>
    public void Freeze() => Kill(_process.Id, 19);

    /// <summary>SIGCONT.</summary>
    public void Thaw() => Kill(_process.Id, 18);

    public async Task<DaemonStatus> StatusAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        var json = await Rampart.Vrrp.Daemon.ControlSocket.RequestAsync(ControlSocket!, "status", timeout.Token);
        return JsonSerializer.Deserialize<DaemonStatus>(json, Rampart.Vrrp.Daemon.ControlSocket.Json)!;
    }

    public async Task<InstanceStatus> InstanceAsync(string name = "VI_1") => (await StatusAsync()).Instances.Single(i => i.Name == name);

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (!_process.HasExited) Crash();
        _process.Dispose();
    }

    private bool _disposed;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
