using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Rampart.Common.Processes;
using Rampart.Linux;
using Rampart.Vrrp.Config;
using Rampart.Vrrp.Instance;
using Rampart.Vrrp.Protocol;

namespace Rampart.Vrrp.Daemon;

/// <summary>
/// The VRRP daemon: one event loop that owns every instance. Sockets, script checkers, link events and the
/// control socket post events into it, so state machines are only ever touched from one place.
/// </summary>
public sealed class VrrpDaemon : IDisposable
{
    private readonly IVrrpHost _host;
    private readonly ILogger _log;
    private readonly TimeProvider _time;
    private readonly string _configFile;
    private readonly EventQueue _events = new();
    private readonly Dictionary<SocketKey, SocketEntry> _sockets = new();
    private readonly Dictionary<string, InstanceRunner> _instances = new(StringComparer.Ordinal);
    private readonly Dictionary<InvalidPacketReason, long> _unmatched = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly HashSet<Task> _notifies = new();
    private KeepalivedConfig _config;
    private readonly Dictionary<string, (VrrpScriptConfig Config, ScriptChecker Checker, CancellationTokenSource Stop)> _checkers = new();
    private IDisposable? _links;
    private readonly long _epoch;
    private readonly DateTimeOffset _started;

    private readonly record struct SocketKey(string Device, AddressFamily Family, IPAddress? Source, bool Unicast);
    private sealed record SocketEntry(IVrrpSocket Socket, Thread Receiver);

    public VrrpDaemon(KeepalivedConfig config, string configFile, IVrrpHost host, ILogger log, TimeProvider? time = null)
    {
        _config = config;
        _configFile = configFile;
        _host = host;
        _log = log;
        _time = time ?? TimeProvider.System;
        _epoch = _time.GetTimestamp();
        _started = _time.GetUtcNow();
    }

    private TimeSpan Now => _time.GetElapsedTime(_epoch);

    /// <summary>Runs until the token is cancelled, then stops gracefully (priority-0 adverts, VIPs removed).</summary>
    public Task RunAsync(CancellationToken cancellationToken)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try { Loop(cancellationToken); done.SetResult(); }
            catch (Exception e) { done.SetException(e); }
        }) { Name = "vrrp event loop", IsBackground = true };
        thread.Start();
        return done.Task;
    }

    private void Loop(CancellationToken cancellationToken)
    {
        using var link = cancellationToken.Register(() => { _stopping.Cancel(); _events.Stop(); });
        Wait(AddInstancesAsync(_config));
        Wait(StartTrackingAsync());
        while (!_stopping.IsCancellationRequested)
        {
            var deadline = _instances.Values.Select(i => i.Machine.Deadline).Where(d => d is not null).Min();
            foreach (var work in _events.Take(deadline - Now)) RunSafely(work);
            var now = Now;
            foreach (var instance in _instances.Values.ToList())
                if (instance.Machine.Deadline is { } due && due <= now)
                    RunSafely(() => instance.OnTimerAsync(now));
        }
        Wait(ShutdownAsync());
    }

    /// <summary>Work runs on the loop thread; what it awaits (netlink, sockets) completes within microseconds.</summary>
    private static void Wait(Task task) => task.GetAwaiter().GetResult();

    private void RunSafely(Func<Task> work)
    {
        try { Wait(work()); }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            _log.LogError(e, "event failed");
        }
    }

    /// <summary>Posts work onto the event loop.</summary>
    private void Post(Func<Task> work) => _events.Post(work);

    /// <summary>SIGHUP: parse the file again; on any error keep running the current config.</summary>
    public void Reload() => Post(ReloadAsync);

    /// <summary>A consistent snapshot, taken on the event loop.</summary>
    public Task<DaemonStatus> GetStatusAsync()
    {
        var done = new TaskCompletionSource<DaemonStatus>(TaskCreationOptions.RunContinuationsAsynchronously);
        Post(() => { done.TrySetResult(Snapshot()); return Task.CompletedTask; });
        return done.Task;
    }

    private async Task AddInstancesAsync(KeepalivedConfig config)
    {
        var scripts = config.Scripts.ToDictionary(s => s.Name);
        foreach (var instanceConfig in config.Instances)
        {
            if (_instances.ContainsKey(instanceConfig.Name)) continue;
            var runner = CreateRunner(instanceConfig, scripts);
            if (runner is null) continue;
            _instances[instanceConfig.Name] = runner;
        }
        AssignSyncGroups(config);
        foreach (var runner in _instances.Values.Where(r => r.Machine.State == VrrpState.Init).ToList())
            await runner.StartAsync(Now).ConfigureAwait(false);
    }

    private void AssignSyncGroups(KeepalivedConfig config)
    {
        foreach (var runner in _instances.Values) runner.SyncGroup = null;
        foreach (var group in config.SyncGroups)
            foreach (var name in group.Group)
                if (_instances.TryGetValue(name, out var runner)) runner.SyncGroup = group.Name;
    }

    private InstanceRunner? CreateRunner(VrrpInstanceConfig config, IReadOnlyDictionary<string, VrrpScriptConfig> scripts)
    {
        var family = config.IsIPv6 ? AddressFamily.InterNetworkV6 : AddressFamily.InterNetwork;
        var info = _host.GetInterface(config.Interface);
        var local = config.UnicastSrcIp ?? (family == AddressFamily.InterNetworkV6 ? info?.LinkLocalIPv6 : info?.PrimaryIPv4);
        if (local is null)
        {
            _log.LogError("{Instance}: interface {Device} {Problem}; instance not started", config.Name, config.Interface,
                info is null ? "does not exist" : $"has no {(family == AddressFamily.InterNetworkV6 ? "link-local IPv6" : "IPv4")} address");
            return null;
        }
        var key = new SocketKey(config.Interface, family, config.UnicastSrcIp, config.UnicastPeers.Count > 0);
        if (!_sockets.TryGetValue(key, out var entry))
        {
            var socket = _host.OpenSocket(family, config.Interface, config.UnicastSrcIp, joinMulticast: !key.Unicast);
            var receiver = new Thread(() => ReceiveLoop(key, socket)) { Name = $"vrrp receive {key.Device}", IsBackground = true };
            receiver.Start();
            _sockets[key] = entry = new SocketEntry(socket, receiver);
        }
        var runner = new InstanceRunner(config, scripts, entry.Socket, local, _host, _log);
        runner.Transitioned += OnTransitioned;
        return runner;
    }

    /// <summary>One blocking thread per socket: no CPU while idle; ends when the socket is disposed.</summary>
    private void ReceiveLoop(SocketKey key, IVrrpSocket socket)
    {
        while (!_stopping.IsCancellationRequested)
        {
            ReceivedDatagram datagram;
            try { datagram = socket.Receive(); }
            catch (ObjectDisposedException) { return; }
            catch (SocketException e)
            {
                _log.LogWarning("receive on {Device} failed: {Error}", key.Device, e.Message);
                continue;
            }
            Post(() => DispatchAsync(key, datagram));
        }
    }

    private Task DispatchAsync(SocketKey key, ReceivedDatagram datagram)
    {
        var packet = VrrpPacket.TryParse(datagram.Payload.Span, datagram.Source, datagram.Destination, out var reason);
        if (packet is null)
        {
            // The VRID byte tells whose counter a malformed packet belongs to, when it is there at all.
            var owner = datagram.Payload.Length >= 2 ? Find(key, datagram.Payload.Span[1]) : null;
            if (owner is not null) owner.Counters.CountInvalid(reason); else CountUnmatched(reason);
            return Task.CompletedTask;
        }
        var instance = Find(key, packet.VirtualRouterId);
        if (instance is null) { CountUnmatched(InvalidPacketReason.UnknownVirtualRouter); return Task.CompletedTask; }
        if (datagram.Source.Equals(instance.LocalAddress)) return Task.CompletedTask;   // our own advert
        return instance.OnPacketAsync(Now, packet, datagram);
    }

    private InstanceRunner? Find(SocketKey key, int vrid) =>
        _instances.Values.FirstOrDefault(i => i.Config.VirtualRouterId == vrid && i.Config.Interface == key.Device
            && (i.Config.IsIPv6 ? AddressFamily.InterNetworkV6 : AddressFamily.InterNetwork) == key.Family);

    private void CountUnmatched(InvalidPacketReason reason) => _unmatched[reason] = _unmatched.GetValueOrDefault(reason) + 1;

    private void OnTransitioned(InstanceRunner runner, StateChanged changed)
    {
        RunNotify(runner.Config.Name, "INSTANCE", changed.To, runner.Machine.Priority,
            runner.Config.Notify, NotifyFor(changed.To, runner.Config.NotifyMaster, runner.Config.NotifyBackup, runner.Config.NotifyFault, runner.Config.NotifyStop));
        if (runner.SyncGroup is not { } groupName || changed.To is VrrpState.Init or VrrpState.Stopped) return;
        if (changed.Reason.StartsWith("sync group", StringComparison.Ordinal)) return;
        var group = _config.SyncGroups.First(g => g.Name == groupName);
        // Everyone in the group must be in the same state: followers move after this event completes.
        bool groupWasThere = group.Group.All(n => !_instances.TryGetValue(n, out var r) || r == runner || r.Machine.State == changed.To);
        if (!groupWasThere)
        {
            Post(async () =>
            {
                foreach (var name in group.Group)
                    if (_instances.TryGetValue(name, out var other) && other != runner)
                        await other.FollowAsync(Now, changed.To, $"sync group {groupName}: {runner.Config.Name} is {changed.To.ToString().ToUpperInvariant()}").ConfigureAwait(false);
            });
        }
        RunNotify(groupName, "GROUP", changed.To, 0, group.Notify, NotifyFor(changed.To, group.NotifyMaster, group.NotifyBackup, group.NotifyFault, group.NotifyStop));
    }

    private static string? NotifyFor(VrrpState state, string? master, string? backup, string? fault, string? stop) => state switch
    {
        VrrpState.Master => master,
        VrrpState.Backup => backup,
        VrrpState.Fault => fault,
        VrrpState.Stopped => stop,
        _ => null,
    };

    /// <summary>Notify scripts run in the background with a timeout; the event loop never waits for them.</summary>
    private void RunNotify(string name, string kind, VrrpState state, int priority, string? generic, string? specific)
    {
        string stateWord = state == VrrpState.Stopped ? "STOP" : state.ToString().ToUpperInvariant();
        var user = _config.Global.ScriptUser;
        if (specific is not null) Track(RunScriptAsync(specific));
        if (generic is not null) Track(RunScriptAsync($"{generic} {kind} {ScriptRunner.Quote(name)} {stateWord} {priority}"));

        void Track(Task task)
        {
            lock (_notifies) _notifies.Add(task);
            _ = task.ContinueWith(t => { lock (_notifies) _notifies.Remove(t); }, TaskScheduler.Default);
        }

        async Task RunScriptAsync(string command)
        {
            if (Insecure(command)) return;
            var result = await ScriptRunner.RunAsync(command, TimeSpan.FromSeconds(10), user).ConfigureAwait(false);
            if (!result.Succeeded)
                _log.LogWarning("notify {Command}: {Outcome}", command, result.TimedOut ? "timed out" : result.Error ?? $"exit {result.ExitCode}");
        }
    }

    /// <summary>
    /// Starts a checker per tracked vrrp_script and watches tracked links. On reload, a checker whose script did not
    /// change keeps running with its state, so a reload never makes a failing check look healthy for a moment.
    /// </summary>
    private async Task StartTrackingAsync()
    {
        var wanted = _config.Scripts
            .Where(script => _config.Instances.Any(i => i.TrackScripts.Any(t => t.Name == script.Name)))
            .ToDictionary(script => script.Name);
        foreach (var (name, running) in _checkers.ToList())
        {
            if (wanted.TryGetValue(name, out var script) && script with { Location = default } == running.Config with { Location = default }) continue;
            running.Stop.Cancel();
            _checkers.Remove(name);
        }
        foreach (var script in wanted.Values.Where(s => !_checkers.ContainsKey(s.Name)))
        {
            var checker = new ScriptChecker(script, script.User ?? _config.Global.ScriptUser, Insecure(script.Script));
            var stop = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
            _checkers[script.Name] = (script, checker, stop);
            _ = checker.RunAsync(ok => Post(async () =>
            {
                _log.LogInformation("vrrp_script {Script}: {Result}", script.Name, ok ? "now succeeding" : "now failing");
                foreach (var instance in _instances.Values.ToList()) await instance.OnScriptAsync(Now, script.Name, ok).ConfigureAwait(false);
            }), stop.Token);
        }
        foreach (var (name, running) in _checkers)
            foreach (var instance in _instances.Values.ToList())
                await instance.OnScriptAsync(Now, name, running.Checker.Ok).ConfigureAwait(false);

        var devices = _instances.Values.SelectMany(i => i.TrackedInterfaces).Distinct().ToList();
        _links?.Dispose();
        _links = devices.Count == 0 ? null : _host.WatchLinks(devices, (device, up) => Post(async () =>
        {
            foreach (var instance in _instances.Values.ToList()) await instance.OnLinkAsync(Now, device, up).ConfigureAwait(false);
        }));
    }

    /// <summary>With enable_script_security, a script another user could replace is never run (and a check counts as failed).</summary>
    private bool Insecure(string command)
    {
        if (!_config.Global.EnableScriptSecurity || ScriptSecurity.Problem(command) is not { } problem) return false;
        _log.LogError("enable_script_security: not running {Command}: {Problem}", command, problem);
        return true;
    }

    private async Task ReloadAsync()
    {
        var result = KeepalivedConfigParser.ParseFile(_configFile);
        foreach (var d in result.Diagnostics) _log.LogWarning("reload: {Diagnostic}", d.ToString());
        if (result.Config is not { } config)
        {
            _log.LogError("reload: {File} has errors; keeping the running configuration", _configFile);
            return;
        }
        _log.LogInformation("reload: applying {File}", _configFile);
        var scripts = config.Scripts.ToDictionary(s => s.Name);
        foreach (var (name, runner) in _instances.ToList())
        {
            var next = config.Instances.FirstOrDefault(i => i.Name == name);
            if (next is not null && next.Interface == runner.Config.Interface && next.VirtualRouterId == runner.Config.VirtualRouterId
                && next.Version == runner.Config.Version && next.IsIPv6 == runner.Config.IsIPv6
                && Equals(next.UnicastSrcIp, runner.Config.UnicastSrcIp) && (next.UnicastPeers.Count > 0) == (runner.Config.UnicastPeers.Count > 0))
            {
                await runner.ReconfigureAsync(Now, next, scripts).ConfigureAwait(false);
                continue;
            }
            await runner.StopAsync(Now).ConfigureAwait(false);
            _instances.Remove(name);
        }
        _config = config;
        await AddInstancesAsync(config).ConfigureAwait(false);
        await StartTrackingAsync().ConfigureAwait(false);
    }

    private async Task ShutdownAsync()
    {
        foreach (var running in _checkers.Values) running.Stop.Cancel();
        _links?.Dispose();
        foreach (var instance in _instances.Values) RunSafely(() => instance.StopAsync(Now));
        foreach (var entry in _sockets.Values) entry.Socket.Dispose();
        // notify_stop scripts were started in the background: give them their chance to finish.
        Task[] pending;
        lock (_notifies) pending = _notifies.ToArray();
        await Task.WhenAny(Task.WhenAll(pending), Task.Delay(TimeSpan.FromSeconds(10))).ConfigureAwait(false);
    }

    private DaemonStatus Snapshot() => new(
        Environment.ProcessId,
        _configFile,
        _started,
        _instances.Values.Select(i => new InstanceStatus(
            i.Config.Name, i.Config.Interface, i.Config.VirtualRouterId, i.Config.Version,
            i.Machine.State.ToString().ToUpperInvariant(), i.Config.Priority, i.Machine.Priority,
            i.Machine.MasterAddress?.ToString(), i.Machine.MasterPriority, i.Since, i.Machine.LastReason,
            i.Machine.Transitions, i.Counters.AdvertsSent, i.Counters.AdvertsReceived,
            i.Counters.PriorityZeroSent, i.Counters.PriorityZeroReceived,
            i.Counters.Invalid.ToDictionary(kv => kv.Key.ToString(), kv => kv.Value),
            i.AllAddresses.Select(a => a.ToString()).ToArray(), i.SyncGroup)).ToArray(),
        _unmatched.ToDictionary(kv => kv.Key.ToString(), kv => kv.Value));

    public void Dispose()
    {
        _stopping.Cancel();
        _events.Stop();
        foreach (var entry in _sockets.Values)
        {
            entry.Socket.Dispose();
            entry.Receiver.Join(TimeSpan.FromSeconds(5));
        }
        _links?.Dispose();
    }
}

public sealed record InstanceStatus(
    string Name, string Interface, int VirtualRouterId, int Version, string State, int BasePriority, int EffectivePriority,
    string? MasterAddress, int MasterPriority, DateTimeOffset Since, string Reason, int Transitions,
    long AdvertsSent, long AdvertsReceived, long PriorityZeroSent, long PriorityZeroReceived,
    IReadOnlyDictionary<string, long> InvalidPackets, IReadOnlyList<string> VirtualAddresses, string? SyncGroup);

public sealed record DaemonStatus(int Pid, string ConfigFile, DateTimeOffset Started, IReadOnlyList<InstanceStatus> Instances,
    IReadOnlyDictionary<string, long> UnmatchedPackets);
