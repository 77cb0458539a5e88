using System.Globalization;
using System.Net;
using Microsoft.Extensions.Configuration;
using Rampart.Common.Config;

namespace Rampart.Sql.Config;

/// <summary>One MariaDB server of the replication set: a [sql.node.NAME] section.</summary>
public sealed record SqlNodeConfig(string Name, string Host, int Port, int Priority, bool NeverPromote)
{
    public string Address => $"{Host}:{Port}";
}

/// <summary>
/// One SQL manager: a [sql.manager.NAME] section. <see cref="Address"/> answers `rampart sql status|switchover`;
/// <see cref="RaftAddress"/> (default: port + 1000, as monitors do) joins the managers' Raft group. Proxy addresses
/// may be set per manager (several managers on one host need different ports).
/// </summary>
public sealed record SqlManagerConfig(string Name, IPEndPoint Address, IPEndPoint RaftAddress, IPEndPoint? ProxyWrite, IPEndPoint? ProxyRead, bool? ProxyRedirectLocal = null);

/// <summary>
/// The [sql] part of rampart.conf, parsed and validated. Durations are seconds (decimals allowed), like the
/// rest of rampart.conf. Keys may be written with spaces or underscores.
/// </summary>
public sealed record SqlConfig
{
    public required string Path { get; init; }
    public required IReadOnlyList<SqlNodeConfig> Nodes { get; init; }
    public required IReadOnlyList<SqlManagerConfig> Managers { get; init; }
    public required string User { get; init; }
    public required string Password { get; init; }
    public required string ReplUser { get; init; }
    public required string ReplPassword { get; init; }
    public TimeSpan CheckInterval { get; init; } = TimeSpan.FromSeconds(0.5);
    public TimeSpan CheckTimeout { get; init; } = TimeSpan.FromSeconds(1);
    public int FailureThreshold { get; init; } = 2;
    public int MaxFailedChecks { get; init; } = 10;
    public TimeSpan RelayApplyTimeout { get; init; } = TimeSpan.FromSeconds(60);
    public TimeSpan SemiSyncWait { get; init; } = TimeSpan.FromSeconds(10);
    public bool RequireSemiSync { get; init; } = true;
    public IPEndPoint? ProxyWrite { get; init; }
    public IPEndPoint? ProxyRead { get; init; }
    public TimeSpan ProxyHold { get; init; } = TimeSpan.FromSeconds(10);
    public bool ProxyRedirectLocal { get; init; } = true;
    public string? PreFailoverHook { get; init; }
    public string? PostFailoverHook { get; init; }
    public TimeSpan HookTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Raft log and snapshots of a manager ($id = its name); used when the conf lists several managers.</summary>
    public string ManagerData { get; init; } = "/var/lib/rampart/sql-manager-$id";

    public SqlNodeConfig Node(string name) => Nodes.FirstOrDefault(n => n.Name == name) ?? throw new KeyNotFoundException($"no [sql.node.{name}] in {Path}");

    public SqlNodeConfig? NodeAt(string host, int port) => Nodes.FirstOrDefault(n => n.Port == port && string.Equals(n.Host, host, StringComparison.OrdinalIgnoreCase));

    public const string EnvironmentVariable = "RAMPART_CONF";
    public const string DefaultPath = "/etc/rampart/rampart.conf";

    /// <summary>-c FILE, else $RAMPART_CONF, else /etc/rampart/rampart.conf.</summary>
    public static string Resolve(string? explicitPath) =>
        explicitPath ?? (Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } env ? env : DefaultPath);

    /// <summary>Reads and validates; every problem found is reported at once, each naming file:line and key.</summary>
    public static SqlConfig Load(string path)
    {
        if (!File.Exists(path))
            throw new ConfigException([new ConfigDiagnostic(Severity.Error, path, 0, "file", $"cannot read '{path}': no such file (use -c FILE or set {EnvironmentVariable})")]);
        IConfigurationRoot root;
        try
        {
            root = new ConfigurationBuilder().AddIniFile(System.IO.Path.GetFullPath(path), optional: false, reloadOnChange: false).Build();
        }
        catch (InvalidDataException e) when (e.InnerException is FormatException format)
        {
            throw new ConfigException([new ConfigDiagnostic(Severity.Error, path, IniLines.LineOfText(path, format.Message), "syntax", format.Message)]);
        }
        return new Reader(path, root).Read();
    }

    private sealed class Reader(string path, IConfigurationRoot root)
    {
        private readonly List<ConfigDiagnostic> _errors = [];
        private readonly IniLines _lines = new(path);

        public SqlConfig Read()
        {
            var sections = root.GetChildren().Select(c => c.Key).ToArray();
            if (!sections.Contains("sql"))
                throw new ConfigException([new ConfigDiagnostic(Severity.Error, path, 0, "sql", "no [sql] section: add one with user, password, repl_user, repl_password and [sql.node.NAME] sections")]);
            // The INI provider nests "sql.node.a" as "sql.node.a" (dots are not separators), so list them by prefix.
            var nodes = sections.Where(s => s.StartsWith("sql.node.", StringComparison.Ordinal)).Order(StringComparer.Ordinal)
                .Select(ReadNode).OfType<SqlNodeConfig>().ToArray();
            var managers = sections.Where(s => s.StartsWith("sql.manager.", StringComparison.Ordinal)).Order(StringComparer.Ordinal)
                .Select(s => EndPoint(s, "addr", required: true) is { } ep
                    ? new SqlManagerConfig(s["sql.manager.".Length..], ep,
                        EndPoint(s, "raft_addr", required: false) ?? new IPEndPoint(ep.Address, ep.Port + 1000 > 65535 ? ep.Port - 1000 : ep.Port + 1000),
                        EndPoint(s, "proxy_write", required: false), EndPoint(s, "proxy_read", required: false),
                        Get(s, "proxy_redirect_local") is null ? null : Bool(s, "proxy_redirect_local", true))
                    : null)
                .OfType<SqlManagerConfig>().ToArray();
            if (nodes.Length < 2 && _errors.Count == 0)
                _errors.Add(new(Severity.Error, path, _lines.SectionLine("sql"), "sql.node", $"{nodes.Length} [sql.node.NAME] section(s); a replication set needs at least 2"));
            foreach (var dup in nodes.GroupBy(n => n.Address).Where(g => g.Count() > 1))
                _errors.Add(new(Severity.Error, path, _lines.KeyLine($"sql.node.{dup.Last().Name}", "address"), "address", $"sql.node.{dup.Last().Name}: address {dup.Key} is also sql.node.{dup.First().Name}'s"));
            if (nodes.Length > 0 && nodes.All(n => n.NeverPromote))
                _errors.Add(new(Severity.Error, path, _lines.SectionLine(nodes[0] is { } n0 ? $"sql.node.{n0.Name}" : "sql"), "never_promote", "every node is never_promote: no node could ever become primary"));

            var config = new SqlConfig
            {
                Path = path,
                Nodes = nodes,
                Managers = managers,
                User = Required("user") ?? "",
                Password = Get("sql", "password") ?? "",
                ReplUser = Required("repl_user") ?? "",
                ReplPassword = Get("sql", "repl_password") ?? "",
                CheckInterval = Seconds("check_interval", 0.5, 0.01, 3600),
                CheckTimeout = Seconds("check_timeout", 1, 0.05, 3600),
                FailureThreshold = Int("failure_threshold", 2, 1, 1000),
                MaxFailedChecks = Int("max_failed_checks", 10, 1, 100000),
                RelayApplyTimeout = Seconds("relay_apply_timeout", 60, 0.1, 86400),
                SemiSyncWait = Seconds("semi_sync_wait", 10, 0.1, 3600),
                RequireSemiSync = Bool("sql", "require_semi_sync", true),
                ProxyWrite = EndPoint("sql", "proxy_write", required: false),
                ProxyRead = EndPoint("sql", "proxy_read", required: false),
                ProxyHold = Seconds("proxy_hold", 10, 0, 3600),
                ProxyRedirectLocal = Bool("sql", "proxy_redirect_local", true),
                PreFailoverHook = Get("sql", "pre_failover_hook"),
                PostFailoverHook = Get("sql", "post_failover_hook"),
                HookTimeout = Seconds("hook_timeout", 10, 0.1, 3600),
                ManagerData = Get("sql", "manager_data") is { } data ? System.IO.Path.Combine(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!, data) : "/var/lib/rampart/sql-manager-$id",
            };
            if (config.MaxFailedChecks < config.FailureThreshold)
                _errors.Add(new(Severity.Error, path, _lines.KeyLine("sql", "max_failed_checks"), "max_failed_checks",
                    $"max_failed_checks {config.MaxFailedChecks} is below failure_threshold {config.FailureThreshold}; raise it"));
            CheckKeys(sections);
            if (_errors.Count > 0) throw new ConfigException(_errors);
            return config;
        }

        private static readonly string[] SqlKeys =
        [
            "user", "password", "repl_user", "repl_password", "check_interval", "check_timeout", "failure_threshold", "max_failed_checks",
            "relay_apply_timeout", "semi_sync_wait", "require_semi_sync", "proxy_write", "proxy_read", "proxy_hold",
            "proxy_redirect_local", "pre_failover_hook", "post_failover_hook", "hook_timeout", "manager_data",
        ];

        private static readonly string[] NodeKeys = ["address", "priority", "never_promote"];
        private static readonly string[] ManagerKeys = ["addr", "raft_addr", "proxy_write", "proxy_read", "proxy_redirect_local"];

        /// <summary>A misspelt key would silently fall back to its default (a detection threshold!): it is an error.</summary>
        private void CheckKeys(IEnumerable<string> sections)
        {
            foreach (var section in sections)
            {
                string[]? known = section == "sql" ? SqlKeys
                    : section.StartsWith("sql.node.", StringComparison.Ordinal) ? NodeKeys
                    : section.StartsWith("sql.manager.", StringComparison.Ordinal) ? ManagerKeys : null;
                if (known is null) continue;
                foreach (var child in root.GetSection(section).GetChildren())
                {
                    string key = child.Key.Trim().Replace(' ', '_').ToLowerInvariant();
                    if (!known.Contains(key))
                        _errors.Add(new(Severity.Error, path, _lines.KeyLine(section, child.Key.Trim()), child.Key.Trim(), $"[{section}]: unknown key '{child.Key.Trim()}' (known: {string.Join(", ", known)})"));
                }
            }
        }

        private SqlNodeConfig? ReadNode(string section)
        {
            string name = section["sql.node.".Length..];
            string? address = Get(section, "address");
            if (address is null)
            {
                _errors.Add(new(Severity.Error, path, _lines.SectionLine(section), "address", $"[{section}] needs address = HOST:PORT"));
                return null;
            }
            int colon = address.LastIndexOf(':');
            if (colon <= 0 || !int.TryParse(address.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port is < 1 or > 65535)
            {
                _errors.Add(new(Severity.Error, path, _lines.KeyLine(section, "address"), "address", $"{section}: address '{address}' is not HOST:PORT"));
                return null;
            }
            int priority = IntIn(section, "priority", 100, 0, 1000000);
            bool never = Bool(section, "never_promote", false);
            return new SqlNodeConfig(name, address[..colon], port, priority, never);
        }

        private string? Get(string section, string key)
        {
            foreach (var spelling in new[] { key, key.Replace('_', ' ') })
                if (root[$"{section}:{spelling}"] is { } value) return value.Trim();
            return null;
        }

        private string? Required(string key)
        {
            var value = Get("sql", key);
            if (value is null)
                _errors.Add(new(Severity.Error, path, _lines.SectionLine("sql"), key, $"[sql] needs '{key}'"));
            return value;
        }

        private TimeSpan Seconds(string key, double fallback, double min, double max)
        {
            var text = Get("sql", key);
            if (text is null) return TimeSpan.FromSeconds(fallback);
            if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double s) && s >= min && s <= max) return TimeSpan.FromSeconds(s);
            _errors.Add(new(Severity.Error, path, _lines.KeyLine("sql", key), key, string.Create(CultureInfo.InvariantCulture, $"{key} = '{text}' is not a number of seconds in {min}-{max}")));
            return TimeSpan.FromSeconds(fallback);
        }

        private int Int(string key, int fallback, int min, int max) => IntIn("sql", key, fallback, min, max);

        private int IntIn(string section, string key, int fallback, int min, int max)
        {
            var text = Get(section, key);
            if (text is null) return fallback;
            if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) && n >= min && n <= max) return n;
            _errors.Add(new(Severity.Error, path, _lines.KeyLine(section, key), key, string.Create(CultureInfo.InvariantCulture, $"{section}: {key} = '{text}' is not a whole number in {min}-{max}")));
            return fallback;
        }

        private bool Bool(string section, string key, bool fallback)
        {
            var text = Get(section, key);
            if (text is null) return fallback;
            switch (text.ToLowerInvariant())
            {
                case "true" or "yes" or "on" or "1": return true;
                case "false" or "no" or "off" or "0": return false;
                default:
                    _errors.Add(new(Severity.Error, path, _lines.KeyLine(section, key), key, $"{section}: {key} = '{text}' is not true or false"));
                    return fallback;
            }
        }

        private IPEndPoint? EndPoint(string section, string key, bool required)
        {
            var text = Get(section, key);
            if (text is null)
            {
                if (required) _errors.Add(new(Severity.Error, path, _lines.SectionLine(section), key, $"[{section}] needs {key} = ADDRESS:PORT"));
                return null;
            }
            if (IPEndPoint.TryParse(text, out var ep) && ep.Port != 0) return ep;
            _errors.Add(new(Severity.Error, path, _lines.KeyLine(section, key), key, $"{section}: {key} = '{text}' is not ADDRESS:PORT"));
            return null;
        }
    }
}
