using System.Globalization;
using System.Net;
using Microsoft.Extensions.Configuration;
using Rampart.Common.Config;

namespace Rampart.Rados.Config;

/// <summary>
/// rampart.conf, an INI file like ceph.conf: [global], then per daemon [mon.a], [osd.0], [client.admin].
/// A value is looked up in the daemon's own section, then its type's ([mon], [osd]), then [global] — Ceph's
/// order. Keys may be written with spaces or underscores ("mon host" = "mon_host"), as in ceph.conf.
/// </summary>
public sealed class RampartConf
{
    public const string EnvironmentVariable = "RAMPART_CONF";
    public const string DefaultPath = "/etc/rampart/rampart.conf";

    private readonly IConfigurationRoot _root;

    private RampartConf(string path, IConfigurationRoot root)
    {
        Path = path;
        _root = root;
    }

    public string Path { get; }

    /// <summary>-c FILE, else $RAMPART_CONF, else /etc/rampart/rampart.conf.</summary>
    public static string Resolve(string? explicitPath) =>
        explicitPath ?? (Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } env ? env : DefaultPath);

    /// <summary>Reads the file; a missing file or a malformed line is a <see cref="ConfigException"/> naming the file.</summary>
    public static RampartConf Load(string path)
    {
        if (!File.Exists(path))
            throw new ConfigException([new ConfigDiagnostic(Severity.Error, path, 0, "file", $"cannot read '{path}': no such file (use -c FILE or set {EnvironmentVariable})")]);
        try
        {
            var root = new ConfigurationBuilder().AddIniFile(System.IO.Path.GetFullPath(path), optional: false, reloadOnChange: false).Build();
            return new RampartConf(path, root);
        }
        catch (InvalidDataException e) when (e.InnerException is FormatException format)
        {
            // The INI reader names the offending line's text; find its number for a file:line message.
            throw new ConfigException([new ConfigDiagnostic(Severity.Error, path, LineOf(path, format.Message), "syntax", format.Message)]);
        }
    }

    private static int LineOf(string path, string message)
    {
        var lines = File.ReadAllLines(path);
        for (int i = 0; i < lines.Length; i++)
            if (lines[i].Trim().Length > 0 && message.Contains($"'{lines[i].Trim()}'", StringComparison.Ordinal)) return i + 1;
        return 0;
    }

    /// <summary>The sections present, e.g. "global", "mon.a", "osd.0".</summary>
    public IEnumerable<string> Sections => _root.GetChildren().Select(c => c.Key);

    /// <summary>The value for a daemon ("mon.a") or "global": own section, then its type, then [global].</summary>
    public string? Get(string daemon, string key)
    {
        foreach (var section in Chain(daemon))
            foreach (var spelling in Spellings(key))
                if (_root[$"{section}:{spelling}"] is { } value) return value.Trim();
        return null;
    }

    public string Require(string daemon, string key) =>
        Get(daemon, key) ?? throw Error(key, $"[{daemon}] needs '{key}' (in [{daemon}], [{daemon.Split('.')[0]}] or [global])");

    public int GetInt(string daemon, string key, int fallback) => Get(daemon, key) is { } v
        ? int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) ? n : throw Error(key, $"{key} = '{v}' is not a whole number")
        : fallback;

    public bool GetBool(string daemon, string key, bool fallback) => Get(daemon, key) is { } v
        ? v.ToLowerInvariant() switch { "true" or "yes" or "1" or "on" => true, "false" or "no" or "0" or "off" => false, _ => throw Error(key, $"{key} = '{v}' is not true or false") }
        : fallback;

    public IPEndPoint GetEndPoint(string daemon, string key) =>
        IPEndPoint.TryParse(Require(daemon, key), out var ep) && ep.Port != 0 ? ep : throw Error(key, $"{key} = '{Get(daemon, key)}' is not ADDRESS:PORT");

    /// <summary>The monitors: every [mon.X] section with mon_addr, in name order.</summary>
    public IReadOnlyList<(string Name, IPEndPoint Address)> Monitors =>
        Sections.Where(s => s.StartsWith("mon.", StringComparison.Ordinal)).Order(StringComparer.Ordinal)
            .Select(s => (s[4..], GetEndPoint(s, "mon_addr"))).ToArray();

    private ConfigException Error(string key, string message) => new([new ConfigDiagnostic(Severity.Error, Path, 0, key, message)]);

    private static IEnumerable<string> Chain(string daemon)
    {
        yield return daemon;
        int dot = daemon.IndexOf('.');
        if (dot > 0) yield return daemon[..dot];
        if (daemon != "global") yield return "global";
    }

    private static IEnumerable<string> Spellings(string key)
    {
        yield return key;
        if (key.Contains('_')) yield return key.Replace('_', ' ');
    }
}
