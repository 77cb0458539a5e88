using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text.Json;
using Rampart.Common.Net;

namespace Rampart.Testing;

/// <summary>
/// Monitors on 127.0.0.1 as real `rampart mon run` processes: a temp dir with rampart.conf, the bootstrap
/// keyring (mon. and client.admin) and each monitor's data. Ports are free ones whose +1000 (Raft) is free too.
/// Every process is killed on Dispose.
/// </summary>
public sealed class MonLab : IDisposable
{
    private readonly Dictionary<string, RouterProcess> _running = [];
    private readonly List<RouterProcess> _all = [];

    public MonLab(params string[] names)
    {
        Dir = Directory.CreateTempSubdirectory("rampart-mon-").FullName;
        Names = names.Length == 0 ? ["a", "b", "c"] : names;
        var ports = FreePorts(Names.Count);
        AdminKey = NewKey();
        WriteFile("keyring", $"[mon.]\n\tkey = {NewKey()}\n\tcaps mon = \"allow *\"\n[client.admin]\n\tkey = {AdminKey}\n\tcaps mon = \"allow *\"\n\tcaps osd = \"allow *\"\n");
        var mons = string.Concat(Names.Select((n, i) => $"[mon.{n}]\nmon_addr = 127.0.0.1:{ports[i]}\n"));
        Conf = WriteFile("rampart.conf", $"[global]\nfsid = {Guid.NewGuid()}\nkeyring = keyring\nmon_data = {Dir}/mon-$id\n{mons}");
    }

    public string Dir { get; }
    public IReadOnlyList<string> Names { get; }
    public string Conf { get; }
    public string AdminKey { get; }

    public static string NewKey() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    public string WriteFile(string name, string text)
    {
        var path = Path.Combine(Dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    /// <summary>A copy of the conf whose keyring is <paramref name="keyring"/> (a file name in <see cref="Dir"/>).</summary>
    public string ConfWithKeyring(string keyring) =>
        WriteFile($"{keyring}.conf", File.ReadAllText(Conf).Replace("keyring = keyring", $"keyring = {keyring}", StringComparison.Ordinal));

    public void Start(string name) => StartDaemon(name, $"mon.{name}", ["mon", "run", "--id", name, "-c", Conf]);

    /// <summary>Starts any rampart daemon, known as <paramref name="key"/> to <see cref="Crash"/> and <see cref="Stop"/>.</summary>
    public void StartDaemon(string key, string label, string[] args)
    {
        var info = new ProcessStartInfo(RampartCli.Path, args)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        var process = new RouterProcess(Process.Start(info)!, label, null);
        _running[key] = process;
        _all.Add(process);
    }

    public RouterProcess Daemon(string key) => _running[key];

    public bool IsRunning(string key) => _running.TryGetValue(key, out var p) && !p.HasExited;

    public void StartAll()
    {
        foreach (var name in Names)
            Start(name);
    }

    /// <summary>kill -9.</summary>
    public void Crash(string name)
    {
        _running[name].Crash();
        _running.Remove(name);
    }

    /// <summary>SIGTERM; true when it exited cleanly within the limit.</summary>
    public bool Stop(string name)
    {
        bool clean = _running[name].Terminate(TimeSpan.FromSeconds(10));
        _running.Remove(name);
        return clean;
    }

    /// <summary>Runs the CLI with -c (unless the arguments name a conf) and returns exit code and output.</summary>
    public async Task<(int Exit, string Out, string Err)> RunAsync(params string[] args)
    {
        var full = args.Contains("-c") ? args : [.. args, "-c", Conf];
        var info = new ProcessStartInfo(RampartCli.Path, full) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(true);
            throw new TimeoutException($"rampart {string.Join(' ', full)} did not finish within 60 s");
        }
        return (process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Runs a command that must succeed; its stdout.</summary>
    public async Task<string> OkAsync(params string[] args)
    {
        var (exit, stdout, stderr) = await RunAsync(args);
        if (exit != 0)
            throw new InvalidOperationException($"rampart {string.Join(' ', args)} exited {exit}: {stderr}\n{Outputs()}");
        return stdout;
    }

    /// <summary>The leader named by `status --json`, or null.</summary>
    public async Task<string?> LeaderAsync()
    {
        var (exit, stdout, _) = await RunAsync("status", "--json");
        if (exit != 0)
            return null;
        using var json = JsonDocument.Parse(stdout);
        return json.RootElement.GetProperty("leader").GetString();
    }

    public async Task<string> WaitForLeaderAsync(double seconds = 30)
    {
        string? leader = null;
        await Wait.UntilAsync(async () => (leader = await LeaderAsync()) is not null, TimeSpan.FromSeconds(seconds), $"a monitor leader\n{Outputs()}");
        return leader!;
    }

    public string Outputs() => string.Join("\n", _all.Select(p => $"--- {p.Name}:\n{p.Output}"));

    public void Dispose()
    {
        foreach (var process in _all)
            process.Dispose();
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>Free loopback ports whose +1000 (a monitor's or SQL manager's Raft port) is free too.</summary>
    public static int[] FreePorts(int count) => LoopbackPorts.Free(count, alsoFreeAt: 1000);
}
