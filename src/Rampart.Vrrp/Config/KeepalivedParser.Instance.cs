using System.Net;
using System.Net.Sockets;

namespace Rampart.Vrrp.Config;

/// <summary>vrrp_instance and vrrp_sync_group blocks.</summary>
internal sealed partial class KeepalivedParser
{
    /// <summary>vrrp_instance keywords of keepalived that rampart accepts and ignores with a warning.</summary>
    private static readonly HashSet<string> UnsupportedInstanceKeywords = new(StringComparer.Ordinal)
    {
        "mcast_src_ip", "use_vmac", "vmac_xmit_base", "native_ipv6", "accept", "no_accept", "strict_mode",
        "virtual_routes", "virtual_rules", "track_file", "track_process", "track_bfd", "unicast_ttl",
        "garp_lower_prio_delay", "garp_lower_prio_repeat", "lower_prio_no_advert", "higher_prio_send_advert",
        "skip_check_adv_addr", "check_unicast_src", "lvs_sync_daemon_interface", "kernel_rx_buf_size",
        "notify_master_rx_lower_pri", "notify_deleted", "linkbeat_use_polling", "unicast_fault_no_peer",
        "garp_interval", "gna_interval", "track_src_ip", "old_unicast_checksum", "vrrp_garp_lower_prio_delay",
    };

    private sealed class Located<T>(T value, SourceLocation location)
    {
        public T Value { get; } = value;
        public SourceLocation Location { get; } = location;
    }

    private sealed class InstanceBuilder(string name, SourceLocation location)
    {
        public string Name { get; } = name;
        public SourceLocation Location { get; } = location;
        public InitialState State { get; set; } = InitialState.Backup;
        public string? Interface { get; set; }
        public Located<int>? VirtualRouterId { get; set; }
        public Located<int>? Priority { get; set; }
        public Located<string>? AdvertInt { get; set; }
        public int? Version { get; set; }
        public bool Preempt { get; set; } = true;
        public TimeSpan PreemptDelay { get; set; }
        public Located<IPAddress>? UnicastSrcIp { get; set; }
        public List<Located<IPAddress>> UnicastPeers { get; } = [];
        public VrrpAuthType AuthType { get; set; }
        public string? AuthPass { get; set; }
        public SourceLocation AuthLocation { get; set; }
        public List<Located<VirtualAddress>> VirtualAddresses { get; } = [];
        public List<Located<VirtualAddress>> ExcludedAddresses { get; } = [];
        public List<TrackRef> TrackScripts { get; } = [];
        public List<TrackRef> TrackInterfaces { get; } = [];
        public string? NotifyMaster { get; set; }
        public string? NotifyBackup { get; set; }
        public string? NotifyFault { get; set; }
        public string? NotifyStop { get; set; }
        public string? Notify { get; set; }
        public TimeSpan? GarpMasterDelay { get; set; }
        public int? GarpMasterRepeat { get; set; }
        public TimeSpan? GarpMasterRefresh { get; set; }
        public int? GarpMasterRefreshRepeat { get; set; }
        public bool DontTrackPrimary { get; set; }
    }

    private void InstanceKeyword(InstanceBuilder instance, Statement s)
    {
        var entity = $"vrrp_instance {instance.Name}";
        switch (s.Name)
        {
            case "state":
                if (TryValue(s, entity, "MASTER|BACKUP", out var state))
                {
                    if (state == "MASTER")
                    {
                        instance.State = InitialState.Master;
                    }
                    else if (state == "BACKUP")
                    {
                        instance.State = InitialState.Backup;
                    }
                    else
                    {
                        Error(s, $"{entity}: state '{state}' is not MASTER or BACKUP");
                    }
                }
                break;
            case "interface":
                if (TryValue(s, entity, "IFNAME", out var ifname))
                {
                    instance.Interface = ifname;
                }
                break;
            case "virtual_router_id":
                if (TryInt(s, entity, 1, 255, out var vrid))
                {
                    instance.VirtualRouterId = new(vrid, s.Location);
                }
                break;
            case "priority":
                if (TryInt(s, entity, 1, 255, out var priority))
                {
                    instance.Priority = new(priority, s.Location);
                }
                break;
            case "advert_int":
                if (TryValue(s, entity, "SECONDS", out var advert))
                {
                    instance.AdvertInt = new(advert, s.Location);
                }
                break;
            case "version":
                if (TryInt(s, entity, 2, 3, out var version))
                {
                    instance.Version = version;
                }
                break;
            case "nopreempt":
                instance.Preempt = false;
                break;
            case "preempt":
            case "smtp_alert":
            case "debug":
                break;
            case "preempt_delay":
                if (TrySeconds(s, entity, 0m, 1000m, out var preemptDelay))
                {
                    instance.PreemptDelay = preemptDelay;
                }
                break;
            case "unicast_src_ip":
                if (TryValue(s, entity, "ADDRESS", out var src))
                {
                    if (TryParseAddress(src, out var srcAddress))
                    {
                        instance.UnicastSrcIp = new(srcAddress, s.Location);
                    }
                    else
                    {
                        Error(s, $"{entity}: unicast_src_ip '{src}' is not an IP address");
                    }
                }
                break;
            case "unicast_peer":
                RequireBlock(s, entity, line => UnicastPeer(instance, entity, line));
                break;
            case "authentication":
                instance.AuthLocation = s.Location;
                RequireBlock(s, entity, line => Authentication(instance, entity, line));
                if (instance.AuthType != VrrpAuthType.None && instance.AuthPass is null)
                {
                    Error(s, $"{entity}: authentication has no auth_pass; add 'auth_pass SECRET' (at most 8 characters)");
                }
                break;
            case "virtual_ipaddress":
                RequireBlock(s, entity, line => VirtualAddressLine(instance.VirtualAddresses, entity, s.Name, line));
                break;
            case "virtual_ipaddress_excluded":
                RequireBlock(s, entity, line => VirtualAddressLine(instance.ExcludedAddresses, entity, s.Name, line));
                break;
            case "track_script":
                RequireBlock(s, entity, line => TrackLine(instance.TrackScripts, entity, s.Name, line));
                break;
            case "track_interface":
                RequireBlock(s, entity, line => TrackLine(instance.TrackInterfaces, entity, s.Name, line));
                break;
            case "notify_master":
                if (TryCommand(s, entity, out var notifyMaster))
                {
                    instance.NotifyMaster = notifyMaster;
                }
                break;
            case "notify_backup":
                if (TryCommand(s, entity, out var notifyBackup))
                {
                    instance.NotifyBackup = notifyBackup;
                }
                break;
            case "notify_fault":
                if (TryCommand(s, entity, out var notifyFault))
                {
                    instance.NotifyFault = notifyFault;
                }
                break;
            case "notify_stop":
                if (TryCommand(s, entity, out var notifyStop))
                {
                    instance.NotifyStop = notifyStop;
                }
                break;
            case "notify":
                if (TryCommand(s, entity, out var notify))
                {
                    instance.Notify = notify;
                }
                break;
            case "garp_master_delay":
                if (TryInt(s, entity, 0, 86400, out var delay))
                {
                    instance.GarpMasterDelay = TimeSpan.FromSeconds(delay);
                }
                break;
            case "garp_master_repeat":
                if (TryInt(s, entity, 1, 10000, out var repeat))
                {
                    instance.GarpMasterRepeat = repeat;
                }
                break;
            case "garp_master_refresh":
                if (TryInt(s, entity, 0, 86400, out var refresh))
                {
                    instance.GarpMasterRefresh = TimeSpan.FromSeconds(refresh);
                }
                break;
            case "garp_master_refresh_repeat":
                if (TryInt(s, entity, 1, 10000, out var refreshRepeat))
                {
                    instance.GarpMasterRefreshRepeat = refreshRepeat;
                }
                break;
            case "dont_track_primary":
                instance.DontTrackPrimary = true;
                break;
            default:
                if (UnsupportedInstanceKeywords.Contains(s.Name))
                {
                    Unsupported(s, entity);
                }
                else
                {
                    Unknown(s, entity);
                }
                break;
        }
    }

    private void UnicastPeer(InstanceBuilder instance, string entity, Statement line)
    {
        if (TryParseAddress(line.Name, out var peer))
        {
            instance.UnicastPeers.Add(new(peer, line.Location));
        }
        else
        {
            Error(line.Keyword, "unicast_peer", $"{entity}: unicast_peer '{line.Name}' is not an IP address");
        }
        if (line.Args.Count > 0)
        {
            Warning(line.Location, "unicast_peer", $"{entity}: unicast_peer {line.Name} option '{line.Args[0].Text}' is not supported; ignored");
        }
    }

    private void Authentication(InstanceBuilder instance, string entity, Statement s)
    {
        switch (s.Name)
        {
            case "auth_type":
                if (TryValue(s, entity, "PASS|AH", out var type))
                {
                    if (type == "PASS")
                    {
                        instance.AuthType = VrrpAuthType.Pass;
                    }
                    else if (type == "AH")
                    {
                        // IPsec AH in VRRP is deprecated (RFC 5798 removed authentication); a group mixing it with PASS never agrees.
                        Error(s, $"{entity}: auth_type AH is not supported; use auth_type PASS or remove authentication");
                    }
                    else
                    {
                        Error(s, $"{entity}: auth_type '{type}' is not PASS or AH");
                    }
                }
                break;
            case "auth_pass":
                if (TryValue(s, entity, "SECRET", out var pass))
                {
                    if (pass.Length > 8)
                    {
                        Warning(s, $"{entity}: auth_pass is {pass.Length} characters, VRRP carries 8; truncated to the first 8");
                        pass = pass[..8];
                    }
                    instance.AuthPass = pass;
                }
                break;
            default:
                Unknown(s, entity);
                break;
        }
    }

    /// <summary>"ADDR[/PREFIX] [dev IF] [label L] [scope S] [brd B] [broadcast B]": one address per line.</summary>
    private void VirtualAddressLine(List<Located<VirtualAddress>> list, string entity, string listName, Statement line)
    {
        var text = line.Name;
        var slash = text.IndexOf('/');
        var addressText = slash < 0 ? text : text[..slash];
        if (!TryParseAddress(addressText, out var address))
        {
            Error(line.Keyword, listName, $"{entity}: {listName} '{text}' is not an IP address; write ADDR[/PREFIX] [dev IF] [label L] [scope S]");
            return;
        }
        var maxPrefix = address.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;
        var prefix = maxPrefix;
        if (slash >= 0)
        {
            var prefixText = text[(slash + 1)..];
            if (!int.TryParse(prefixText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out prefix)
                || prefix > maxPrefix)
            {
                Error(line.Keyword, listName, $"{entity}: {listName} '{text}' prefix '{prefixText}' outside 0-{maxPrefix}");
                return;
            }
        }
        string? device = null, label = null, scope = null;
        for (var i = 0; i < line.Args.Count; i++)
        {
            var option = line.Args[i].Text;
            if (option is not ("dev" or "label" or "scope" or "brd" or "broadcast"))
            {
                Warning(line.Location, listName, $"{entity}: {listName} {text} option '{option}' is not supported; ignored");
                continue;
            }
            if (i + 1 >= line.Args.Count)
            {
                Error(line.Keyword, listName, $"{entity}: {listName} {text} option '{option}' needs a value; write '{option} VALUE'");
                return;
            }
            var value = line.Args[++i].Text;
            switch (option)
            {
                case "dev":
                    device = value;
                    break;
                case "label":
                    label = value;
                    break;
                case "scope":
                    scope = value;
                    break;
            }
        }
        list.Add(new(new VirtualAddress(address, prefix, device, label, scope), line.Location));
    }

    /// <summary>"NAME [weight N]" in track_script / track_interface.</summary>
    private void TrackLine(List<TrackRef> list, string entity, string listName, Statement line)
    {
        int? weight = null;
        if (line.Args.Count > 0)
        {
            if (line.Args[0].Text != "weight")
            {
                Warning(line.Location, listName, $"{entity}: {listName} {line.Name} option '{line.Args[0].Text}' is not supported; ignored");
            }
            else if (line.Args.Count < 2)
            {
                Error(line.Keyword, listName, $"{entity}: {listName} {line.Name} weight needs a value; write 'weight -253..253'");
                return;
            }
            else if (!int.TryParse(line.Args[1].Text, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var w)
                || w < -253 || w > 253)
            {
                Error(line.Keyword, listName, $"{entity}: {listName} {line.Name} weight '{line.Args[1].Text}' outside -253..253");
                return;
            }
            else
            {
                weight = w;
                if (line.Args.Count > 2)
                {
                    Warning(line.Location, listName, $"{entity}: {listName} {line.Name} option '{line.Args[2].Text}' is not supported; ignored");
                }
            }
        }
        list.Add(new TrackRef(line.Name, weight, line.Location));
    }

    /// <summary>Strict address syntax: dotted quad for IPv4 (IPAddress.TryParse takes "10" or "1.2.3"), no %zone for IPv6.</summary>
    internal static bool TryParseAddress(string text, out IPAddress address)
    {
        address = IPAddress.None;
        if (text.Contains(':'))
        {
            return !text.Contains('%') && IPAddress.TryParse(text, out address!) && address.AddressFamily == AddressFamily.InterNetworkV6;
        }
        var parts = text.Split('.');
        if (parts.Length != 4 || parts.Any(p => p.Length is 0 or > 3 || !p.All(char.IsAsciiDigit) || int.Parse(p, System.Globalization.CultureInfo.InvariantCulture) > 255))
        {
            return false;
        }
        return IPAddress.TryParse(text, out address!);
    }

    private sealed class SyncGroupBuilder(string name, SourceLocation location)
    {
        public string Name { get; } = name;
        public SourceLocation Location { get; } = location;
        public List<Located<string>> Group { get; } = [];
        public string? NotifyMaster { get; set; }
        public string? NotifyBackup { get; set; }
        public string? NotifyFault { get; set; }
        public string? NotifyStop { get; set; }
        public string? Notify { get; set; }
    }

    private void SyncGroupKeyword(SyncGroupBuilder group, Statement s)
    {
        var entity = $"vrrp_sync_group {group.Name}";
        switch (s.Name)
        {
            case "group":
                RequireBlock(s, entity, line =>
                {
                    group.Group.Add(new(line.Name, line.Location));
                    group.Group.AddRange(line.Args.Select(a => new Located<string>(a.Text, a.Location)));
                });
                break;
            case "notify_master":
                if (TryCommand(s, entity, out var notifyMaster))
                {
                    group.NotifyMaster = notifyMaster;
                }
                break;
            case "notify_backup":
                if (TryCommand(s, entity, out var notifyBackup))
                {
                    group.NotifyBackup = notifyBackup;
                }
                break;
            case "notify_fault":
                if (TryCommand(s, entity, out var notifyFault))
                {
                    group.NotifyFault = notifyFault;
                }
                break;
            case "notify_stop":
                if (TryCommand(s, entity, out var notifyStop))
                {
                    group.NotifyStop = notifyStop;
                }
                break;
            case "notify":
                if (TryCommand(s, entity, out var notify))
                {
                    group.Notify = notify;
                }
                break;
            case "smtp_alert":
                break;
            default:
                Unknown(s, entity);
                break;
        }
    }
}
