using System.Globalization;
using System.Net.Sockets;

namespace Rampart.Vrrp.Config;

/// <summary>Cross-checks once everything is read (names, families, VRIDs, advert_int per version) and the immutable result.</summary>
internal sealed partial class KeepalivedParser
{
    private KeepalivedConfig Build()
    {
        var scripts = BuildScripts();
        var scriptsByName = scripts.GroupBy(s => s.Name, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        var instances = new List<VrrpInstanceConfig>();
        var firstByName = new Dictionary<string, InstanceBuilder>(StringComparer.Ordinal);
        var firstByVrid = new Dictionary<(string Interface, int Vrid, bool IPv6), InstanceBuilder>();
        foreach (var builder in _instances)
        {
            var entity = $"vrrp_instance {builder.Name}";
            if (!firstByName.TryAdd(builder.Name, builder))
            {
                Error(builder.Location, "vrrp_instance", $"{entity} is defined twice (first at {firstByName[builder.Name].Location}); rename one");
            }
            var instance = BuildInstance(builder, entity, scriptsByName);
            if (instance is null)
            {
                continue;
            }
            var key = (instance.Interface, instance.VirtualRouterId, instance.IsIPv6);
            if (firstByVrid.TryGetValue(key, out var other))
            {
                Error(builder.VirtualRouterId!.Location, "virtual_router_id",
                    $"{entity}: virtual_router_id {instance.VirtualRouterId} on {instance.Interface} ({Family(instance.IsIPv6)}) is already used by vrrp_instance {other.Name} at {other.VirtualRouterId!.Location}; pick another id");
            }
            else
            {
                firstByVrid.Add(key, builder);
            }
            instances.Add(instance);
        }
        return new KeepalivedConfig(_global, scripts, instances, BuildSyncGroups(firstByName));
    }

    private static string Family(bool ipv6) => ipv6 ? "IPv6" : "IPv4";

    private List<VrrpScriptConfig> BuildScripts()
    {
        var result = new List<VrrpScriptConfig>();
        var first = new Dictionary<string, ScriptBuilder>(StringComparer.Ordinal);
        foreach (var s in _scripts)
        {
            var entity = $"vrrp_script {s.Name}";
            if (!first.TryAdd(s.Name, s))
            {
                Error(s.Location, "vrrp_script", $"{entity} is defined twice (first at {first[s.Name].Location}); rename one");
            }
            if (s.Script is null)
            {
                Error(s.Location, "script", $"{entity}: no script; add 'script \"/path/to/check\"'");
                continue;
            }
            result.Add(new VrrpScriptConfig
            {
                Name = s.Name,
                Script = s.Script,
                Interval = s.Interval,
                Timeout = s.Timeout,
                Weight = s.Weight,
                WeightReverse = s.WeightReverse,
                Rise = s.Rise,
                Fall = s.Fall,
                User = s.User,
                Group = s.Group,
                Location = s.Location,
            });
        }
        return result;
    }

    private VrrpInstanceConfig? BuildInstance(InstanceBuilder b, string entity, Dictionary<string, VrrpScriptConfig> scripts)
    {
        var ok = true;
        if (b.Interface is null)
        {
            Error(b.Location, "interface", $"{entity}: no interface; add 'interface IFNAME'");
            ok = false;
        }
        if (b.VirtualRouterId is null)
        {
            Error(b.Location, "virtual_router_id", $"{entity}: no virtual_router_id; add 'virtual_router_id 1-255'");
            ok = false;
        }
        var version = b.Version ?? _global.VrrpVersion;
        var advert = AdvertInterval(b, entity, version);

        var vips = b.VirtualAddresses;
        var ipv6 = vips.Count > 0 && vips[0].Value.Address.AddressFamily == AddressFamily.InterNetworkV6;
        var mixed = vips.FirstOrDefault(v => (v.Value.Address.AddressFamily == AddressFamily.InterNetworkV6) != ipv6);
        if (mixed is not null)
        {
            Error(mixed.Location, "virtual_ipaddress",
                $"{entity}: virtual_ipaddress mixes {Family(ipv6)} ({vips[0].Value}) and {Family(!ipv6)} ({mixed.Value}); use one family per instance (another instance for the other family)");
        }
        if (vips.Count > 0)
        {
            foreach (var peer in b.UnicastPeers.Where(p => (p.Value.AddressFamily == AddressFamily.InterNetworkV6) != ipv6))
            {
                Error(peer.Location, "unicast_peer",
                    $"{entity}: unicast_peer {peer.Value} is {Family(!ipv6)} but the virtual addresses are {Family(ipv6)}; use peers of the same family");
            }
            if (b.UnicastSrcIp is { } src && (src.Value.AddressFamily == AddressFamily.InterNetworkV6) != ipv6)
            {
                Error(src.Location, "unicast_src_ip",
                    $"{entity}: unicast_src_ip {src.Value} is {Family(!ipv6)} but the virtual addresses are {Family(ipv6)}; use a source of the same family");
            }
        }

        foreach (var track in b.TrackScripts.Where(t => !scripts.ContainsKey(t.Name) && !_scripts.Any(s => s.Name == t.Name)))
        {
            Error(track.Location, "track_script", $"{entity}: track_script {track.Name} is not defined; add a vrrp_script {track.Name} block or fix the name");
        }

        var priority = b.Priority?.Value ?? 100;
        if (priority == 255)
        {
            var weighted = b.TrackScripts.Any(t => (t.Weight ?? (scripts.TryGetValue(t.Name, out var s) ? s.Weight : 0)) != 0)
                || b.TrackInterfaces.Any(t => t.Weight is not (null or 0));
            if (weighted)
            {
                Warning(b.Priority!.Location, "priority",
                    $"{entity}: priority 255 (address owner) cannot be changed by track_script/track_interface weights; lower the priority or remove the weights");
            }
        }

        var authType = b.AuthType;
        var authPass = b.AuthPass;
        if (version == 3 && authType != VrrpAuthType.None)
        {
            Warning(b.AuthLocation, "authentication", $"{entity}: authentication is not part of VRRPv3; ignored");
            authType = VrrpAuthType.None;
            authPass = null;
        }

        if (!ok)
        {
            return null;
        }
        var garp = _global.Garp;
        return new VrrpInstanceConfig
        {
            Name = b.Name,
            State = b.State,
            Interface = b.Interface!,
            VirtualRouterId = b.VirtualRouterId!.Value,
            Priority = priority,
            AdvertInterval = advert,
            Version = version,
            Preempt = b.Preempt,
            PreemptDelay = b.PreemptDelay,
            UnicastSrcIp = b.UnicastSrcIp?.Value,
            UnicastPeers = b.UnicastPeers.Select(p => p.Value).ToList(),
            AuthType = authType,
            AuthPass = authType == VrrpAuthType.None ? null : authPass,
            VirtualAddresses = vips.Select(v => v.Value).ToList(),
            ExcludedAddresses = b.ExcludedAddresses.Select(v => v.Value).ToList(),
            TrackScripts = b.TrackScripts,
            TrackInterfaces = b.TrackInterfaces,
            NotifyMaster = b.NotifyMaster,
            NotifyBackup = b.NotifyBackup,
            NotifyFault = b.NotifyFault,
            NotifyStop = b.NotifyStop,
            Notify = b.Notify,
            Garp = new GarpSettings
            {
                MasterDelay = b.GarpMasterDelay ?? garp.MasterDelay,
                MasterRepeat = b.GarpMasterRepeat ?? garp.MasterRepeat,
                MasterRefresh = b.GarpMasterRefresh ?? garp.MasterRefresh,
                MasterRefreshRepeat = b.GarpMasterRefreshRepeat ?? garp.MasterRefreshRepeat,
                Interval = garp.Interval,
            },
            DontTrackPrimary = b.DontTrackPrimary,
            Location = b.Location,
        };
    }

    /// <summary>advert_int: VRRPv2 whole seconds 1-255 (RFC 3768 5.3.7); VRRPv3 centiseconds 0.01-40.95 (RFC 5798 5.2.7).</summary>
    private TimeSpan AdvertInterval(InstanceBuilder b, string entity, int version)
    {
        if (b.AdvertInt is not { } advert)
        {
            return TimeSpan.FromSeconds(1);
        }
        var text = advert.Value;
        void Fail(string message) => Error(advert.Location, "advert_int", $"{entity}: advert_int {message}");
        if (!decimal.TryParse(text, DecimalStyle, CultureInfo.InvariantCulture, out var seconds))
        {
            Fail($"'{text}' is not a number of seconds; use e.g. 1, or 0.1 with version 3");
        }
        else if (seconds <= 0)
        {
            Fail($"{text} must be greater than 0");
        }
        else if (version == 2 && (seconds != decimal.Truncate(seconds) || seconds > 255))
        {
            Fail($"{text} is not a whole number of seconds 1-255 (VRRPv2); use 'version 3' for sub-second adverts");
        }
        else if (version == 3 && (seconds < 0.01m || seconds > 40.95m))
        {
            Fail($"{text} outside 0.01-40.95 seconds (VRRPv3)");
        }
        else if (version == 3 && seconds * 100 != decimal.Truncate(seconds * 100))
        {
            Fail($"{text} is not a multiple of 0.01 seconds (VRRPv3)");
        }
        else
        {
            return ToTimeSpan(seconds);
        }
        return TimeSpan.FromSeconds(1);
    }

    private List<SyncGroupConfig> BuildSyncGroups(Dictionary<string, InstanceBuilder> instances)
    {
        var result = new List<SyncGroupConfig>();
        var first = new Dictionary<string, SyncGroupBuilder>(StringComparer.Ordinal);
        foreach (var g in _syncGroups)
        {
            var entity = $"vrrp_sync_group {g.Name}";
            if (!first.TryAdd(g.Name, g))
            {
                Error(g.Location, "vrrp_sync_group", $"{entity} is defined twice (first at {first[g.Name].Location}); rename one");
            }
            foreach (var member in g.Group.Where(m => !instances.ContainsKey(m.Value)))
            {
                Error(member.Location, "group", $"{entity}: instance {member.Value} is not defined; add a vrrp_instance {member.Value} block or fix the name");
            }
            result.Add(new SyncGroupConfig
            {
                Name = g.Name,
                Group = g.Group.Select(m => m.Value).ToList(),
                NotifyMaster = g.NotifyMaster,
                NotifyBackup = g.NotifyBackup,
                NotifyFault = g.NotifyFault,
                NotifyStop = g.NotifyStop,
                Notify = g.Notify,
                Location = g.Location,
            });
        }
        return result;
    }
}
