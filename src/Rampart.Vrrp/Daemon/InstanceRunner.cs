using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Rampart.Linux;
using Rampart.Vrrp.Config;
using Rampart.Vrrp.Instance;
using Rampart.Vrrp.Protocol;

namespace Rampart.Vrrp.Daemon;

/// <summary>
/// One vrrp_instance at run time: its state machine, the socket it shares, its tracking inputs and counters.
/// Called only from the daemon's event loop; carries out the state machine's effects.
/// </summary>
internal sealed class InstanceRunner
{
    private readonly IVrrpHost _host;
    private readonly ILogger _log;
    private readonly Dictionary<string, bool> _scriptOk = new();
    private readonly Dictionary<string, bool> _interfaceUp = new();
    private CancellationTokenSource? _garp;
    private readonly byte[] _sendBuffer = new byte[1500];

    public InstanceRunner(VrrpInstanceConfig config, IReadOnlyDictionary<string, VrrpScriptConfig> scripts, IVrrpSocket socket, IPAddress localAddress, IVrrpHost host, ILogger log)
    {
        Config = config;
        Scripts = scripts;
        Socket = socket;
        LocalAddress = localAddress;
        _host = host;
        _log = log;
        Machine = new VrrpStateMachine(ParametersOf(config, localAddress));
        foreach (var track in config.TrackScripts) _scriptOk[track.Name] = true;
        foreach (var device in TrackedInterfaces) _interfaceUp[device] = host.GetInterface(device)?.IsUp ?? false;
    }

    public VrrpInstanceConfig Config { get; private set; }
    public IReadOnlyDictionary<string, VrrpScriptConfig> Scripts { get; private set; }
    public IVrrpSocket Socket { get; }
    public IPAddress LocalAddress { get; }
    public VrrpStateMachine Machine { get; private set; }
    public InstanceCounters Counters { get; } = new();
    public DateTimeOffset Since { get; private set; } = DateTimeOffset.UtcNow;
    public string? SyncGroup { get; set; }

    /// <summary>Fired after every transition, for notify scripts and the sync group.</summary>
    public event Action<InstanceRunner, StateChanged>? Transitioned;

    public IEnumerable<string> TrackedInterfaces =>
        Config.TrackInterfaces.Select(t => t.Name).Concat(Config.DontTrackPrimary ? [] : [Config.Interface]).Distinct();

    public IEnumerable<VirtualAddress> AllAddresses => Config.VirtualAddresses.Concat(Config.ExcludedAddresses);

    private static VrrpParameters ParametersOf(VrrpInstanceConfig c, IPAddress local) => new(
        c.Version, (byte)c.VirtualRouterId, (byte)c.Priority, (int)Math.Round(c.AdvertInterval.TotalMilliseconds / 10),
        c.Preempt, c.PreemptDelay, c.State == InitialState.Master, local);

    public async Task StartAsync(TimeSpan now)
    {
        // A VIP left behind by a crashed earlier run would answer alongside the real master: remove it first.
        foreach (var address in AllAddresses)
        {
            var ifAddress = ToInterfaceAddress(address);
            if (await _host.Addresses.ExistsAsync(ifAddress).ConfigureAwait(false))
            {
                _log.LogWarning("{Instance}: removing {Address} left on {Device} by an earlier run", Config.Name, address, ifAddress.Device);
                await _host.Addresses.RemoveAsync(ifAddress).ConfigureAwait(false);
            }
        }
        var (priority, fault) = Evaluate();
        Machine.SetPriority(now, priority);
        await ApplyAsync(Machine.Start(now, fault is not null, fault)).ConfigureAwait(false);
    }

    public Task OnTimerAsync(TimeSpan now) => ApplyAsync(Machine.OnTimer(now));

    public Task StopAsync(TimeSpan now) => ApplyAsync(Machine.Stop(now));

    public Task FollowAsync(TimeSpan now, VrrpState state, string reason) => ApplyAsync(Machine.Follow(now, state, reason));

    /// <summary>Validates a packet addressed to this VRID against the instance's settings, then feeds the state machine.</summary>
    public Task OnPacketAsync(TimeSpan now, VrrpPacket packet, ReceivedDatagram datagram)
    {
        if (datagram.HopLimit != 255) return Invalid(InvalidPacketReason.BadTtl, datagram.Source);
        if (packet.Version != Config.Version) return Invalid(InvalidPacketReason.VersionMismatch, datagram.Source);
        if (packet.Version == 2)
        {
            if (!string.Equals(packet.AuthPass, Config.AuthPass, StringComparison.Ordinal)) return Invalid(InvalidPacketReason.AuthMismatch, datagram.Source);
            if (packet.AdvertIntervalCentiseconds != Machine.Parameters.AdvertIntervalCentiseconds) return Invalid(InvalidPacketReason.IntervalMismatch, datagram.Source);
        }
        Counters.AdvertsReceived++;
        if (packet.Priority == 0) Counters.PriorityZeroReceived++;
        return ApplyAsync(Machine.OnAdvert(now, packet, datagram.Source));
    }

    private Task Invalid(InvalidPacketReason reason, IPAddress source)
    {
        Counters.CountInvalid(reason);
        if (Counters.ShouldLogInvalid(reason))
            _log.LogWarning("{Instance}: dropped advert from {Source}: {Reason}", Config.Name, source, reason);
        return Task.CompletedTask;
    }

    public Task OnScriptAsync(TimeSpan now, string script, bool ok)
    {
        if (!_scriptOk.ContainsKey(script) || _scriptOk[script] == ok) return Task.CompletedTask;
        _scriptOk[script] = ok;
        return ReevaluateAsync(now, $"vrrp_script {script} {(ok ? "succeeded" : "failed")}");
    }

    public Task OnLinkAsync(TimeSpan now, string device, bool up)
    {
        if (!_interfaceUp.TryGetValue(device, out bool was) || was == up) return Task.CompletedTask;
        _interfaceUp[device] = up;
        return ReevaluateAsync(now, $"interface {device} {(up ? "up" : "down")}");
    }

    private async Task ReevaluateAsync(TimeSpan now, string reason)
    {
        var (priority, fault) = Evaluate();
        if (priority != Machine.Priority)
        {
            _log.LogInformation("{Instance}: effective priority {Old} -> {New} ({Reason})", Config.Name, Machine.Priority, priority, reason);
            await ApplyAsync(Machine.SetPriority(now, priority)).ConfigureAwait(false);
        }
        await ApplyAsync(Machine.SetFault(now, fault is not null, fault ?? reason)).ConfigureAwait(false);
    }

    /// <summary>keepalived's rules: weight 0 = failure means FAULT; weight &gt; 0 added while OK; weight &lt; 0 added while failing.</summary>
    internal (int Priority, string? Fault) Evaluate()
    {
        int priority = Config.Priority;
        string? fault = null;
        foreach (var track in Config.TrackScripts)
        {
            var script = Scripts[track.Name];
            int weight = track.Weight ?? script.Weight;
            bool ok = _scriptOk[track.Name];
            if (script.WeightReverse) weight = -weight;
            if (weight == 0) { if (!ok) fault ??= $"vrrp_script {track.Name} failed"; }
            else if (weight > 0 ? ok : !ok) priority += weight;
        }
        foreach (var device in TrackedInterfaces)
        {
            bool up = _interfaceUp[device];
            int weight = Config.TrackInterfaces.FirstOrDefault(t => t.Name == device)?.Weight ?? 0;
            if (weight == 0) { if (!up) fault ??= $"interface {device} down"; }
            else if (weight > 0 ? up : !up) priority += weight;
        }
        return (priority, fault);
    }

    /// <summary>Reload: new settings for the same VRID and interface. The state carries over; VIPs that stay are not touched.</summary>
    public async Task ReconfigureAsync(TimeSpan now, VrrpInstanceConfig config, IReadOnlyDictionary<string, VrrpScriptConfig> scripts)
    {
        var before = AllAddresses.ToHashSet();
        Config = config;
        Scripts = scripts;
        foreach (var track in config.TrackScripts) _scriptOk.TryAdd(track.Name, true);
        foreach (var device in TrackedInterfaces) if (!_interfaceUp.ContainsKey(device)) _interfaceUp[device] = _host.GetInterface(device)?.IsUp ?? false;
        Machine = Machine.Reconfigure(ParametersOf(config, LocalAddress));
        if (Machine.State == VrrpState.Master)
        {
            var after = AllAddresses.ToHashSet();
            foreach (var gone in before.Except(after)) await _host.Addresses.RemoveAsync(ToInterfaceAddress(gone)).ConfigureAwait(false);
            foreach (var added in after.Except(before))
            {
                var ifAddress = ToInterfaceAddress(added);
                await _host.Addresses.AddAsync(ifAddress).ConfigureAwait(false);
                AnnounceOnce([ifAddress]);
            }
        }
        await ReevaluateAsync(now, "reload").ConfigureAwait(false);
    }

    private async Task ApplyAsync(IReadOnlyList<VrrpEffect> effects)
    {
        foreach (var effect in effects)
        {
            switch (effect)
            {
                case SendAdvert send: SendAdvert(send.Priority); break;
                case TakeAddresses: await TakeAddressesAsync().ConfigureAwait(false); break;
                case ReleaseAddresses: await ReleaseAddressesAsync().ConfigureAwait(false); break;
                case StateChanged changed:
                    Since = DateTimeOffset.UtcNow;
                    if (changed.To == VrrpState.Master) Counters.BecameMaster++;
                    _log.LogInformation("{Instance}: {From} -> {To} ({Reason})", Config.Name, changed.From.ToString().ToUpperInvariant(), changed.To.ToString().ToUpperInvariant(), changed.Reason);
                    Transitioned?.Invoke(this, changed);
                    break;
            }
        }
    }

    private void SendAdvert(byte priority)
    {
        var packet = new VrrpPacket(Config.Version, (byte)Config.VirtualRouterId, priority, Machine.Parameters.AdvertIntervalCentiseconds,
            Config.VirtualAddresses.Select(a => a.Address).ToArray(), Config.Version == 2 ? Config.AuthPass : null);
        var destinations = Config.UnicastPeers.Count > 0
            ? Config.UnicastPeers
            : [Socket.Family == AddressFamily.InterNetworkV6 ? VrrpPacket.MulticastV6 : VrrpPacket.MulticastV4];
        foreach (var destination in destinations)
        {
            int length = packet.Write(_sendBuffer, LocalAddress, destination);
            try
            {
                Socket.Send(_sendBuffer.AsSpan(0, length), destination);
                Counters.AdvertsSent++;
                if (priority == 0) Counters.PriorityZeroSent++;
            }
            catch (SocketException e)
            {
                Counters.SendErrors++;
                _log.LogWarning("{Instance}: advert to {Destination} failed: {Error}", Config.Name, destination, e.Message);
            }
        }
    }

    private async Task TakeAddressesAsync()
    {
        foreach (var address in AllAddresses)
        {
            try { await _host.Addresses.AddAsync(ToInterfaceAddress(address)).ConfigureAwait(false); }
            catch (Exception e) when (e is IOException or SocketException or InvalidOperationException)
            {
                _log.LogError("{Instance}: adding {Address} failed: {Error}", Config.Name, address, e.Message);
            }
        }
        _garp?.Cancel();
        _garp = new CancellationTokenSource();
        Announce(Config.Garp.MasterRepeat, _garp.Token);
        _ = RepeatAnnouncementsAsync(_garp.Token);
    }

    private async Task ReleaseAddressesAsync()
    {
        _garp?.Cancel();
        _garp = null;
        foreach (var address in AllAddresses)
        {
            try { await _host.Addresses.RemoveAsync(ToInterfaceAddress(address)).ConfigureAwait(false); }
            catch (Exception e) when (e is IOException or SocketException or InvalidOperationException)
            {
                _log.LogError("{Instance}: removing {Address} failed: {Error}", Config.Name, address, e.Message);
            }
        }
    }

    /// <summary>garp_master_delay: a second burst after the switch settled; garp_master_refresh: periodic bursts while master.</summary>
    private async Task RepeatAnnouncementsAsync(CancellationToken token)
    {
        var garp = Config.Garp;
        try
        {
            if (garp.MasterDelay > TimeSpan.Zero)
            {
                await Task.Delay(garp.MasterDelay, token).ConfigureAwait(false);
                Announce(garp.MasterRepeat, token);
            }
            while (garp.MasterRefresh > TimeSpan.Zero)
            {
                await Task.Delay(garp.MasterRefresh, token).ConfigureAwait(false);
                Announce(garp.MasterRefreshRepeat, token);
            }
        }
        catch (OperationCanceledException) { }
    }

    /// <summary>A burst of `repeat` announcements of every address, vrrp_garp_interval apart (in the background when spaced).</summary>
    private void Announce(int repeat, CancellationToken token = default)
    {
        var addresses = AllAddresses.Select(ToInterfaceAddress).ToArray();
        var gap = Config.Garp.Interval;
        if (gap <= TimeSpan.Zero)
        {
            for (int i = 0; i < Math.Max(1, repeat); i++) AnnounceOnce(addresses);
            return;
        }
        _ = Task.Run(async () =>
        {
            for (int i = 0; i < Math.Max(1, repeat) && !token.IsCancellationRequested; i++)
            {
                if (i > 0) await Task.Delay(gap, token).ConfigureAwait(false);
                AnnounceOnce(addresses);
            }
        }, token);
    }

    private void AnnounceOnce(IEnumerable<InterfaceAddress> addresses)
    {
        foreach (var address in addresses)
        {
            try { _host.Announcer.Announce(address.Device, address.Address); Interlocked.Increment(ref Counters.Announcements); }
            catch (SocketException e) { _log.LogWarning("{Instance}: announcing {Address} failed: {Error}", Config.Name, address.Address, e.Message); }
        }
    }

    internal InterfaceAddress ToInterfaceAddress(VirtualAddress a) => new(a.Address, a.PrefixLength, a.Device ?? Config.Interface, a.Label, a.Scope);
}

/// <summary>Per-instance counters (RFC 6527's vrrpv3Statistics, roughly).</summary>
internal sealed class InstanceCounters
{
    private readonly Dictionary<InvalidPacketReason, long> _invalid = new();
    private readonly Dictionary<InvalidPacketReason, long> _lastLogged = new();
    public long AdvertsSent;
    public long AdvertsReceived;
    public long PriorityZeroSent;
    public long PriorityZeroReceived;
    public long BecameMaster;
    public long SendErrors;
    public long Announcements;

    public IReadOnlyDictionary<InvalidPacketReason, long> Invalid => _invalid;

    public void CountInvalid(InvalidPacketReason reason) => _invalid[reason] = _invalid.GetValueOrDefault(reason) + 1;

    /// <summary>Logs the 1st, 10th, 100th ... drop of each reason, so a flood cannot flood the log.</summary>
    public bool ShouldLogInvalid(InvalidPacketReason reason)
    {
        long count = _invalid.GetValueOrDefault(reason);
        long last = _lastLogged.GetValueOrDefault(reason);
        if (count < Math.Max(1, last * 10)) return false;
        _lastLogged[reason] = count;
        return true;
    }
}
