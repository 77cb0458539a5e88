using System.Net;
using Rampart.Common.Config;
using Rampart.Rados.Auth;
using Rampart.Rados.Config;

namespace Rampart.Rados.Mon;

/// <summary>
/// What one monitor needs from rampart.conf: [global] fsid and keyring (the bootstrap keyring holding
/// mon. and client.admin), every [mon.X] mon_addr, and its own mon_data (default /var/lib/rampart/mon-NAME).
/// Raft runs on mon_addr's port + <see cref="RaftPortOffset"/>, so the conf names one address per monitor.
/// </summary>
public sealed record MonitorConfig(
    string Name,
    Guid Fsid,
    IReadOnlyList<(string Name, IPEndPoint Address)> Monitors,
    Keyring Keyring,
    string DataDirectory)
{
    /// <summary>Raft port = mon_addr port + 1000 (6789 → 7789).</summary>
    public const int RaftPortOffset = 1000;

    public IPEndPoint Address => Monitors.First(m => m.Name == Name).Address;

    public static IPEndPoint RaftEndPoint(IPEndPoint monAddr) => new(monAddr.Address, monAddr.Port + RaftPortOffset);

    public static MonitorConfig FromConf(RampartConf conf, string name)
    {
        string daemon = $"mon.{name}";
        var monitors = conf.Monitors;
        if (monitors.All(m => m.Name != name))
            throw Error(conf, "mon_addr", $"no [{daemon}] section with mon_addr in {conf.Path} (monitors: {string.Join(", ", monitors.Select(m => m.Name))})");
        string fsidText = conf.Require(daemon, "fsid");
        if (!Guid.TryParse(fsidText, out var fsid))
            throw Error(conf, "fsid", $"fsid = '{fsidText}' is not a UUID");
        string keyring = ResolvePath(conf, conf.Require(daemon, "keyring"));
        string data = conf.Get(daemon, "mon_data") is { } d ? ResolvePath(conf, d.Replace("$id", name, StringComparison.Ordinal)) : $"/var/lib/rampart/mon-{name}";
        var keys = Keyring.Load(keyring);
        if (keys.Find(EntityName.Parse("mon.")) is null)
            throw Error(conf, "keyring", $"keyring {keyring} has no [mon.] key; monitors need it");
        return new MonitorConfig(name, fsid, monitors, keys, data);
    }

    /// <summary>Relative paths in the conf are relative to the conf file's directory.</summary>
    public static string ResolvePath(RampartConf conf, string path) =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(conf.Path)) ?? "/", path));

    private static ConfigException Error(RampartConf conf, string key, string message) =>
        new([new ConfigDiagnostic(Severity.Error, conf.Path, 0, key, message)]);
}
