using System.Net;
using Rampart.Common.Config;

namespace Rampart.Vrrp.Config;

/// <summary>Where a section or keyword was written, for messages.</summary>
public readonly record struct SourceLocation(string File, int Line)
{
    public override string ToString() => $"{File}:{Line}";
}

/// <summary>The parsed keepalived.conf: the VRRP half (global_defs, vrrp_script, vrrp_instance, vrrp_sync_group).</summary>
public sealed record KeepalivedConfig(
    GlobalDefs Global,
    IReadOnlyList<VrrpScriptConfig> Scripts,
    IReadOnlyList<VrrpInstanceConfig> Instances,
    IReadOnlyList<SyncGroupConfig> SyncGroups);

/// <summary>Result of parsing: the config when there is no error, and every warning and error found.</summary>
public sealed record ConfigParseResult(KeepalivedConfig? Config, IReadOnlyList<ConfigDiagnostic> Diagnostics)
{
    public bool HasErrors => Diagnostics.Any(d => d.Severity == Severity.Error);
}

/// <summary>Gratuitous ARP / unsolicited NA timing (keepalived's vrrp_garp_* and garp_master_*).</summary>
public sealed record GarpSettings
{
    /// <summary>Delay for the second burst after becoming master (garp_master_delay, default 5 s; 0 = none).</summary>
    public TimeSpan MasterDelay { get; init; } = TimeSpan.FromSeconds(5);
    /// <summary>Packets per burst (garp_master_repeat, default 5).</summary>
    public int MasterRepeat { get; init; } = 5;
    /// <summary>Period of refresh bursts while master (garp_master_refresh, default 0 = off).</summary>
    public TimeSpan MasterRefresh { get; init; } = TimeSpan.Zero;
    /// <summary>Packets per refresh burst (garp_master_refresh_repeat, default 1).</summary>
    public int MasterRefreshRepeat { get; init; } = 1;
    /// <summary>Gap between packets of a burst (vrrp_garp_interval / vrrp_gna_interval, default 0).</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.Zero;
}

public sealed record GlobalDefs
{
    public string? RouterId { get; init; }
    /// <summary>vrrp_version: 2 (default) or 3.</summary>
    public int VrrpVersion { get; init; } = 2;
    public string? ScriptUser { get; init; }
    /// <summary>The optional GROUP of "script_user USER [GROUP]".</summary>
    public string? ScriptGroup { get; init; }
    public bool EnableScriptSecurity { get; init; }
    /// <summary>Defaults for every instance, from vrrp_garp_master_delay, vrrp_garp_master_repeat, vrrp_garp_master_refresh, vrrp_garp_master_refresh_repeat, vrrp_garp_interval.</summary>
    public GarpSettings Garp { get; init; } = new();
    /// <summary>notify_fifo is not supported; other global keywords are accepted and ignored with a warning.</summary>
    public SourceLocation Location { get; init; }
}

public sealed record VrrpScriptConfig
{
    public required string Name { get; init; }
    /// <summary>The command line as written (quoted string allowed), run through /bin/sh -c.</summary>
    public required string Script { get; init; }
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>Default: the interval.</summary>
    public TimeSpan? Timeout { get; init; }
    /// <summary>0: failure means FAULT; positive: added while the script succeeds; negative: added while it fails.</summary>
    public int Weight { get; init; }
    /// <summary>When true (keyword "weight N reverse"), the sign of the effect flips.</summary>
    public bool WeightReverse { get; init; }
    public int Rise { get; init; } = 1;
    public int Fall { get; init; } = 1;
    /// <summary>"user USER [GROUP]"; null: global script_user, else root.</summary>
    public string? User { get; init; }
    /// <summary>The optional GROUP of "user USER [GROUP]".</summary>
    public string? Group { get; init; }
    public SourceLocation Location { get; init; }
}

/// <summary>VRRPv2 authentication (RFC 3768 / keepalived auth_type); VRRPv3 has none.</summary>
public enum VrrpAuthType { None, Pass }

public enum InitialState { Backup, Master }

/// <summary>One virtual_ipaddress line: "10.0.0.1/24 dev eth0 label eth0:1 scope global".</summary>
public sealed record VirtualAddress(IPAddress Address, int PrefixLength, string? Device = null, string? Label = null, string? Scope = null)
{
    public override string ToString() => $"{Address}/{PrefixLength}";
}

/// <summary>"track_script { name [weight N] }" / "track_interface { eth1 [weight N] }"; null weight = the script's own / FAULT on down.</summary>
public sealed record TrackRef(string Name, int? Weight, SourceLocation Location);

public sealed record VrrpInstanceConfig
{
    public required string Name { get; init; }
    public InitialState State { get; init; } = InitialState.Backup;
    public required string Interface { get; init; }
    public required int VirtualRouterId { get; init; }
    /// <summary>1-255; 255 = address owner. Default 100.</summary>
    public int Priority { get; init; } = 100;
    /// <summary>advert_int, default 1 s. v3 allows centisecond resolution (0.01-40.95 s); v2 whole seconds 1-255.</summary>
    public TimeSpan AdvertInterval { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>Per-instance "version 2|3" or the global vrrp_version.</summary>
    public int Version { get; init; } = 2;
    /// <summary>False with "nopreempt".</summary>
    public bool Preempt { get; init; } = true;
    public TimeSpan PreemptDelay { get; init; } = TimeSpan.Zero;
    public IPAddress? UnicastSrcIp { get; init; }
    /// <summary>Non-empty = unicast mode: adverts go to each peer instead of the multicast group.</summary>
    public IReadOnlyList<IPAddress> UnicastPeers { get; init; } = [];
    /// <summary>v2 "authentication { auth_type PASS auth_pass secret }": the password (at most 8 bytes); null = none.</summary>
    public string? AuthPass { get; init; }
    /// <summary>auth_type: PASS (password in clear) or AH (IPsec AH header keyed by AuthPass); None without authentication.</summary>
    public VrrpAuthType AuthType { get; init; }
    public IReadOnlyList<VirtualAddress> VirtualAddresses { get; init; } = [];
    /// <summary>Added and removed with the others but not carried in adverts.</summary>
    public IReadOnlyList<VirtualAddress> ExcludedAddresses { get; init; } = [];
    public IReadOnlyList<TrackRef> TrackScripts { get; init; } = [];
    public IReadOnlyList<TrackRef> TrackInterfaces { get; init; } = [];
    public string? NotifyMaster { get; init; }
    public string? NotifyBackup { get; init; }
    public string? NotifyFault { get; init; }
    public string? NotifyStop { get; init; }
    /// <summary>"notify SCRIPT": called with "INSTANCE" NAME STATE PRIORITY on every transition.</summary>
    public string? Notify { get; init; }
    /// <summary>Instance values override the global vrrp_garp_* defaults.</summary>
    public GarpSettings Garp { get; init; } = new();
    /// <summary>dont_track_primary: the instance's own interface going down does not mean FAULT.</summary>
    public bool DontTrackPrimary { get; init; }
    public SourceLocation Location { get; init; }

    /// <summary>VRRP over IPv6 when the virtual addresses are IPv6 (keepalived's rule: one family per instance).</summary>
    public bool IsIPv6 => VirtualAddresses.Count > 0
        && VirtualAddresses[0].Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;
}

public sealed record SyncGroupConfig
{
    public required string Name { get; init; }
    public required IReadOnlyList<string> Group { get; init; }
    public string? NotifyMaster { get; init; }
    public string? NotifyBackup { get; init; }
    public string? NotifyFault { get; init; }
    public string? NotifyStop { get; init; }
    public string? Notify { get; init; }
    public SourceLocation Location { get; init; }
}
