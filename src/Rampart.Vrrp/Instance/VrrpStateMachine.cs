using System.Net;
using Rampart.Vrrp.Protocol;

namespace Rampart.Vrrp.Instance;

public enum VrrpState { Init, Backup, Master, Fault, Stopped }

/// <summary>What the shell must do after an event. The state machine itself never touches the network.</summary>
public abstract record VrrpEffect;
/// <summary>Send one advertisement with this priority (0 = "I am leaving").</summary>
public sealed record SendAdvert(byte Priority) : VrrpEffect;
/// <summary>Configure the virtual addresses and announce them (gratuitous ARP / unsolicited NA).</summary>
public sealed record TakeAddresses : VrrpEffect;
/// <summary>Remove the virtual addresses.</summary>
public sealed record ReleaseAddresses : VrrpEffect;
/// <summary>The state changed; log it, run notify scripts, tell the sync group.</summary>
public sealed record StateChanged(VrrpState From, VrrpState To, string Reason) : VrrpEffect;

/// <summary>The fixed parameters of one instance, as the state machine needs them.</summary>
public sealed record VrrpParameters(
    int Version,
    byte VirtualRouterId,
    byte Priority,
    int AdvertIntervalCentiseconds,
    bool Preempt,
    TimeSpan PreemptDelay,
    bool StartAsMaster,
    IPAddress LocalAddress);

/// <summary>
/// One VRRP router's protocol state, RFC 5798 section 6.4 (and RFC 3768 section 6.4 for v2), on a clock the
/// caller supplies: every method takes "now" and returns the effects to carry out; <see cref="Deadline"/> is
/// when <see cref="OnTimer"/> must be called next. Adds keepalived's FAULT state (a tracked interface or
/// script said this router must not be master) and preempt_delay.
/// </summary>
public sealed class VrrpStateMachine(VrrpParameters parameters)
{
    private TimeSpan? _preemptAllowedAt;

    public VrrpParameters Parameters { get; private set; } = parameters;
    public VrrpState State { get; private set; } = VrrpState.Init;
    /// <summary>Base priority plus tracking weights, clamped to 1-254 (255 stays 255: the address owner).</summary>
    public byte Priority { get; private set; } = parameters.Priority;
    /// <summary>v3: the interval the current master advertises; v2: the configured one.</summary>
    public int MasterAdvertIntervalCentiseconds { get; private set; } = parameters.AdvertIntervalCentiseconds;
    /// <summary>Who we last heard as master (ourselves when master).</summary>
    public IPAddress? MasterAddress { get; private set; }
    public byte MasterPriority { get; private set; }
    /// <summary>When the next timer (advertisement or master down) fires; null when none runs.</summary>
    public TimeSpan? Deadline { get; private set; }
    /// <summary>Set by the last transition.</summary>
    public TimeSpan Since { get; private set; }
    public int Transitions { get; private set; }
    public string LastReason { get; private set; } = "";
    private bool _faulted;

    public TimeSpan AdvertInterval => Centis(Parameters.AdvertIntervalCentiseconds);

    /// <summary>RFC 5798: ((256 - Priority) * Master_Adver_Interval) / 256; RFC 3768: (256 - Priority) / 256 seconds.</summary>
    public TimeSpan SkewTime => Parameters.Version == 3
        ? Centis((256 - Priority) * MasterAdvertIntervalCentiseconds / 256.0)
        : TimeSpan.FromSeconds((256 - Priority) / 256.0);

    /// <summary>3 * Master_Adver_Interval + Skew_Time.</summary>
    public TimeSpan MasterDownInterval => Centis(3 * MasterAdvertIntervalCentiseconds) + SkewTime;

    private static TimeSpan Centis(double centiseconds) => TimeSpan.FromTicks((long)(centiseconds * TimeSpan.TicksPerMillisecond * 10));

    /// <summary>Startup event. The address owner (priority 255) becomes master at once; "state MASTER" waits one
    /// advert interval plus skew to hear a better master before taking over, so a restart never flaps the VIP.</summary>
    public IReadOnlyList<VrrpEffect> Start(TimeSpan now, bool faulted, string? faultReason = null)
    {
        var effects = new List<VrrpEffect>();
        _faulted = faulted;
        if (faulted) { Enter(VrrpState.Fault, now, faultReason ?? "fault at startup", effects); Deadline = null; return effects; }
        if (Priority == 255) { BecomeMaster(now, "address owner (priority 255)", effects); return effects; }
        EnterBackup(now, Parameters.StartAsMaster ? AdvertInterval + SkewTime : MasterDownInterval, "startup", effects);
        return effects;
    }

    public IReadOnlyList<VrrpEffect> OnTimer(TimeSpan now)
    {
        var effects = new List<VrrpEffect>();
        if (Deadline is not { } deadline || now < deadline) return effects;
        switch (State)
        {
            case VrrpState.Master:
                effects.Add(new SendAdvert(Priority));
                Deadline = now + AdvertInterval;
                break;
            case VrrpState.Backup:
                BecomeMaster(now, MasterAddress is null ? "no master heard (master down timer)" : $"master {MasterAddress} silent for {MasterDownInterval.TotalMilliseconds:0} ms", effects);
                break;
            default:
                Deadline = null;
                break;
        }
        return effects;
    }

    /// <summary>An advertisement for this virtual router, already validated (checksum, TTL, auth, version).</summary>
    public IReadOnlyList<VrrpEffect> OnAdvert(TimeSpan now, VrrpPacket packet, IPAddress source)
    {
        var effects = new List<VrrpEffect>();
        switch (State)
        {
            case VrrpState.Backup:
                if (packet.Priority == 0)
                {
                    // The master is leaving: take over after Skew_Time only (RFC 5798 6.4.2).
                    Deadline = now + SkewTime;
                    LastReason = $"master {source} sent priority 0";
                }
                else
                {
                    MasterAddress = source;
                    MasterPriority = packet.Priority;
                    // A lower-priority master while we preempt: let the master down timer expire.
                    if (!Parameters.Preempt || packet.Priority >= Priority || PreemptDelayed(now))
                    {
                        if (packet.Priority >= Priority) _preemptAllowedAt = null;
                        if (Parameters.Version == 3) MasterAdvertIntervalCentiseconds = packet.AdvertIntervalCentiseconds;
                        Deadline = now + MasterDownInterval;
                    }
                }
                break;
            case VrrpState.Master:
                if (packet.Priority == 0)
                {
                    effects.Add(new SendAdvert(Priority));
                    Deadline = now + AdvertInterval;
                }
                else if (packet.Priority > Priority || (packet.Priority == Priority && Compare(source, Parameters.LocalAddress) > 0))
                {
                    if (Parameters.Version == 3) MasterAdvertIntervalCentiseconds = packet.AdvertIntervalCentiseconds;
                    MasterAddress = source;
                    MasterPriority = packet.Priority;
                    effects.Add(new ReleaseAddresses());
                    EnterBackup(now, MasterDownInterval,
                        packet.Priority > Priority ? $"higher priority {packet.Priority} advertised by {source}" : $"equal priority, higher address {source}", effects);
                }
                break;
        }
        return effects;
    }

    /// <summary>Tracking changed the effective priority.</summary>
    public IReadOnlyList<VrrpEffect> SetPriority(TimeSpan now, int priority)
    {
        Priority = Parameters.Priority == 255 ? (byte)255 : (byte)Math.Clamp(priority, 1, 254);
        // A master advertises its new priority at once, so a better backup can preempt without waiting.
        return State == VrrpState.Master ? [new SendAdvert(Priority)] : [];
    }

    /// <summary>A tracked interface or weight-0 script went bad (true) or recovered (false).</summary>
    public IReadOnlyList<VrrpEffect> SetFault(TimeSpan now, bool faulted, string reason)
    {
        var effects = new List<VrrpEffect>();
        if (faulted == _faulted || State is VrrpState.Init or VrrpState.Stopped) { _faulted = faulted; return effects; }
        _faulted = faulted;
        if (faulted)
        {
            if (State == VrrpState.Master) LeaveMaster(effects);
            Enter(VrrpState.Fault, now, reason, effects);
            Deadline = null;
        }
        else
        {
            EnterBackup(now, MasterDownInterval, reason, effects);
        }
        return effects;
    }

    /// <summary>Sync group: another member moved; follow it unless this instance is in FAULT.</summary>
    public IReadOnlyList<VrrpEffect> Follow(TimeSpan now, VrrpState target, string reason)
    {
        var effects = new List<VrrpEffect>();
        if (State == target || State is VrrpState.Init or VrrpState.Stopped) return effects;
        switch (target)
        {
            case VrrpState.Master when !_faulted: BecomeMaster(now, reason, effects); break;
            case VrrpState.Backup when State == VrrpState.Master:
                effects.Add(new ReleaseAddresses());
                EnterBackup(now, MasterDownInterval, reason, effects);
                break;
            case VrrpState.Fault:
                if (State == VrrpState.Master) LeaveMaster(effects);
                Enter(VrrpState.Fault, now, reason, effects);
                Deadline = null;
                break;
        }
        return effects;
    }

    /// <summary>Shutdown: a master says priority 0 so a backup takes over after Skew_Time, and drops its addresses.</summary>
    public IReadOnlyList<VrrpEffect> Stop(TimeSpan now)
    {
        var effects = new List<VrrpEffect>();
        if (State == VrrpState.Master) LeaveMaster(effects);
        if (State != VrrpState.Stopped) Enter(VrrpState.Stopped, now, "shutdown", effects);
        Deadline = null;
        return effects;
    }

    /// <summary>Reload with new settings for the same router: the state, master and timers carry over.</summary>
    public VrrpStateMachine Reconfigure(VrrpParameters parameters)
    {
        Parameters = parameters;
        if (State == VrrpState.Master) MasterAdvertIntervalCentiseconds = parameters.AdvertIntervalCentiseconds;
        return this;
    }

    private void LeaveMaster(List<VrrpEffect> effects)
    {
        effects.Add(new SendAdvert(0));
        effects.Add(new ReleaseAddresses());
    }

    private void BecomeMaster(TimeSpan now, string reason, List<VrrpEffect> effects)
    {
        // Announce the addresses before the advertisement: the old master keeps answering until our
        // advertisement reaches it, and by then clients already send to us, so failback loses nothing.
        effects.Add(new TakeAddresses());
        effects.Add(new SendAdvert(Priority));
        MasterAddress = Parameters.LocalAddress;
        MasterPriority = Priority;
        MasterAdvertIntervalCentiseconds = Parameters.AdvertIntervalCentiseconds;
        _preemptAllowedAt = null;
        Enter(VrrpState.Master, now, reason, effects);
        Deadline = now + AdvertInterval;
    }

    private void EnterBackup(TimeSpan now, TimeSpan timeout, string reason, List<VrrpEffect> effects)
    {
        Enter(VrrpState.Backup, now, reason, effects);
        Deadline = now + timeout;
    }

    private void Enter(VrrpState state, TimeSpan now, string reason, List<VrrpEffect> effects)
    {
        var from = State;
        State = state;
        Since = now;
        LastReason = reason;
        if (from != state) Transitions++;
        effects.Add(new StateChanged(from, state, reason));
    }

    /// <summary>keepalived's preempt_delay: after first seeing a lower-priority master, wait this long before preempting it.</summary>
    private bool PreemptDelayed(TimeSpan now)
    {
        if (Parameters.PreemptDelay <= TimeSpan.Zero) return false;
        _preemptAllowedAt ??= now + Parameters.PreemptDelay;
        return now < _preemptAllowedAt;
    }

    /// <summary>Compares addresses as unsigned big-endian numbers (RFC 5798 tie-break on the primary address).</summary>
    public static int Compare(IPAddress a, IPAddress b) => a.GetAddressBytes().AsSpan().SequenceCompareTo(b.GetAddressBytes());
}
