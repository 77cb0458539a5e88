namespace Rampart.Vrrp.Config;

/// <summary>Top-level dispatch, global_defs and vrrp_script.</summary>
internal sealed partial class KeepalivedParser
{
    /// <summary>Sections keepalived knows that belong to its other daemons (checker, BFD) or to features rampart does not run.</summary>
    private static readonly HashSet<string> OtherSections = new(StringComparer.Ordinal)
    {
        "virtual_server", "virtual_server_group", "static_ipaddress", "static_routes", "static_rules",
        "linkbeat_interfaces", "vrrp_track_process", "vrrp_track_file", "track_file", "garp_group",
        "bfd_instance", "net_namespace", "net_namespace_ipvs", "namespace_with_ipsets", "instance",
        "use_polling", "local_address_group",
    };

    /// <summary>keepalived global_defs keywords that rampart vrrp accepts and ignores with a warning.</summary>
    private static readonly HashSet<string> UnsupportedGlobals = new(StringComparer.Ordinal)
    {
        "notification_email", "notification_email_from", "smtp_server", "smtp_helo", "smtp_connect_timeout",
        "smtp_alert", "smtp_alert_vrrp", "smtp_alert_checker", "checker_log_all_failures",
        "vrrp_skip_check_adv_addr", "vrrp_strict", "vrrp_iptables", "vrrp_ipsets", "vrrp_mcast_group4",
        "vrrp_mcast_group6", "vrrp_check_unicast_src", "vrrp_lower_prio_no_advert", "vrrp_higher_prio_send_advert",
        "vrrp_garp_lower_prio_delay", "vrrp_garp_lower_prio_repeat", "vrrp_priority", "vrrp_no_swap",
        "vrrp_rt_priority", "vrrp_cpu_affinity", "vrrp_startup_delay", "vrrp_min_garp", "vrrp_rx_bufs_policy",
        "vrrp_rx_bufs_multiplier", "vrrp_netlink_cmd_rcv_bufs", "vrrp_netlink_monitor_rcv_bufs",
        "vrrp_notify_fifo", "vrrp_notify_fifo_script", "notify_fifo", "notify_fifo_script",
        "lvs_id", "lvs_sync_daemon", "lvs_timeouts", "lvs_flush", "lvs_flush_onstop", "checker_priority",
        "checker_no_swap", "bfd_priority", "bfd_no_swap", "enable_traps", "enable_snmp_vrrp",
        "enable_snmp_keepalived", "enable_snmp_checker", "enable_snmp_rfc", "enable_snmp_rfcv2",
        "enable_snmp_rfcv3", "snmp_socket", "enable_dbus", "dynamic_interfaces", "default_interface",
        "max_auto_priority", "min_auto_priority_delay", "script_max_auto_priority", "process_names",
        "vrrp_process_name", "checker_process_name", "bfd_process_name", "linkbeat_use_polling",
        "instance", "net_namespace", "use_pid_dir", "vrrp_version_3_checksum", "uid_gid_cache",
        "random_seed", "umask", "nftables", "nftables_priority", "nftables_ifindex", "nftables_counters",
    };

    /// <summary>Without a global_defs section, the defaults "at" line 0 of the main file.</summary>
    private GlobalDefs _global = new() { Location = new(mainFile, 0) };
    private readonly List<ScriptBuilder> _scripts = [];
    private readonly List<InstanceBuilder> _instances = [];
    private readonly List<SyncGroupBuilder> _syncGroups = [];

    private void TopLevel(Statement s)
    {
        switch (s.Name)
        {
            case "global_defs":
                RequireBlock(s, "global_defs", st => GlobalKeyword(st));
                _global = _global with { Location = s.Location };
                break;
            case "vrrp_script":
                if (TryName(s, out var scriptName))
                {
                    var script = new ScriptBuilder(scriptName, s.Location);
                    _scripts.Add(script);
                    RequireBlock(s, $"vrrp_script {scriptName}", st => ScriptKeyword(script, st));
                }
                break;
            case "vrrp_instance":
                if (TryName(s, out var instanceName))
                {
                    var instance = new InstanceBuilder(instanceName, s.Location);
                    _instances.Add(instance);
                    RequireBlock(s, $"vrrp_instance {instanceName}", st => InstanceKeyword(instance, st));
                }
                break;
            case "vrrp_sync_group":
                if (TryName(s, out var groupName))
                {
                    var group = new SyncGroupBuilder(groupName, s.Location);
                    _syncGroups.Add(group);
                    RequireBlock(s, $"vrrp_sync_group {groupName}", st => SyncGroupKeyword(group, st));
                }
                break;
            default:
                if (OtherSections.Contains(s.Name))
                {
                    Warning(s, $"section {s.Name} is not handled by rampart vrrp; ignored");
                }
                else
                {
                    Warning(s, $"unknown section '{s.Name}'; ignored");
                }
                break;
        }
    }

    /// <summary>The NAME of "vrrp_instance NAME {"; an error when it is missing.</summary>
    private bool TryName(Statement s, out string name)
    {
        if (s.Args.Count == 0)
        {
            Error(s, $"{s.Name} needs a name; write '{s.Name} NAME {{ ... }}'");
            name = "";
            return false;
        }
        name = s.Args[0].Text;
        return true;
    }

    private void GlobalKeyword(Statement s)
    {
        const string entity = "global_defs";
        var garp = _global.Garp;
        switch (s.Name)
        {
            case "router_id":
                if (TryValue(s, entity, "NAME", out var routerId))
                {
                    _global = _global with { RouterId = routerId };
                }
                break;
            case "vrrp_version":
                if (TryInt(s, entity, 2, 3, out var version))
                {
                    _global = _global with { VrrpVersion = version };
                }
                break;
            case "script_user":
                if (TryValue(s, entity, "USER [GROUP]", out var user))
                {
                    _global = _global with { ScriptUser = user, ScriptGroup = s.Args.Count > 1 ? s.Args[1].Text : null };
                }
                break;
            case "enable_script_security":
                _global = _global with { EnableScriptSecurity = true };
                break;
            case "vrrp_garp_master_delay":
                if (TryInt(s, entity, 0, 86400, out var delay))
                {
                    _global = _global with { Garp = garp with { MasterDelay = TimeSpan.FromSeconds(delay) } };
                }
                break;
            case "vrrp_garp_master_repeat":
                if (TryInt(s, entity, 1, 10000, out var repeat))
                {
                    _global = _global with { Garp = garp with { MasterRepeat = repeat } };
                }
                break;
            case "vrrp_garp_master_refresh":
                if (TryInt(s, entity, 0, 86400, out var refresh))
                {
                    _global = _global with { Garp = garp with { MasterRefresh = TimeSpan.FromSeconds(refresh) } };
                }
                break;
            case "vrrp_garp_master_refresh_repeat":
                if (TryInt(s, entity, 1, 10000, out var refreshRepeat))
                {
                    _global = _global with { Garp = garp with { MasterRefreshRepeat = refreshRepeat } };
                }
                break;
            case "vrrp_garp_interval":
            case "vrrp_gna_interval":
                if (TrySeconds(s, entity, 0m, 1m, out var interval))
                {
                    _global = _global with { Garp = garp with { Interval = interval } };
                }
                break;
            default:
                if (UnsupportedGlobals.Contains(s.Name))
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

    private sealed class ScriptBuilder(string name, SourceLocation location)
    {
        public string Name { get; } = name;
        public SourceLocation Location { get; } = location;
        public string? Script { get; set; }
        public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(1);
        public TimeSpan? Timeout { get; set; }
        public int Weight { get; set; }
        public bool WeightReverse { get; set; }
        public int Rise { get; set; } = 1;
        public int Fall { get; set; } = 1;
        public string? User { get; set; }
        public string? Group { get; set; }
    }

    private void ScriptKeyword(ScriptBuilder script, Statement s)
    {
        var entity = $"vrrp_script {script.Name}";
        switch (s.Name)
        {
            case "script":
                if (TryCommand(s, entity, out var command))
                {
                    script.Script = command;
                }
                break;
            case "interval":
                if (TrySeconds(s, entity, 0.001m, 86400m, out var interval))
                {
                    script.Interval = interval;
                }
                break;
            case "timeout":
                if (TrySeconds(s, entity, 0.001m, 86400m, out var timeout))
                {
                    script.Timeout = timeout;
                }
                break;
            case "weight":
                if (TryInt(s, entity, -253, 253, out var weight))
                {
                    script.Weight = weight;
                    if (s.Args.Count > 1)
                    {
                        if (s.Args[1].Text == "reverse")
                        {
                            script.WeightReverse = true;
                        }
                        else
                        {
                            Error(s, $"{entity}: weight option '{s.Args[1].Text}' is not 'reverse'; write 'weight N [reverse]'");
                        }
                    }
                }
                break;
            case "rise":
                if (TryInt(s, entity, 1, 1000, out var rise))
                {
                    script.Rise = rise;
                }
                break;
            case "fall":
                if (TryInt(s, entity, 1, 1000, out var fall))
                {
                    script.Fall = fall;
                }
                break;
            case "user":
                if (TryValue(s, entity, "USER [GROUP]", out var user))
                {
                    script.User = user;
                    script.Group = s.Args.Count > 1 ? s.Args[1].Text : null;
                }
                break;
            case "init_fail":
                break;
            default:
                Unknown(s, entity);
                break;
        }
    }
}
