using System.Globalization;
using System.Net;
using Rampart.Common.Config;
using Rampart.Rados.Auth;
using Rampart.Rados.Config;
using Rampart.Rados.Mon;
using Rampart.Rados.Osd.Store;

namespace Rampart.Rados.Osd;

/// <summary>
/// What one OSD needs from rampart.conf ([osd.N], then [osd], then [global]): osd_addr (ADDRESS:PORT),
/// osd_data (default /var/lib/rampart/osd-N; "$id" is replaced), host (its CRUSH host, default the
/// machine's name), osd_weight (CRUSH weight, default 1), the keyring holding osd.N's key, the monitors,
/// the failure-detection timings osd_heartbeat_interval / osd_heartbeat_grace (seconds), and osd_chunk_size
/// (bytes per stored chunk, fixed when the store is created: the unit of checksums, copy-on-write and rewrites),
/// osd_beacon_report_interval (seconds between "alive" messages to the monitors).
/// </summary>
public sealed record OsdConfig(
    int Id,
    IPEndPoint Address,
    string DataDirectory,
    string Host,
    double Weight,
    byte[] Key,
    IReadOnlyList<(string Name, IPEndPoint Address)> Monitors,
    TimeSpan HeartbeatInterval,
    TimeSpan HeartbeatGrace,
    TimeSpan ScrubInterval,
    TimeSpan DeepScrubInterval,
    int ChunkSize = ObjectStoreOptions.DefaultChunkSize,
    double BeaconSeconds = 5)
{
    public EntityName Entity => EntityName.Parse($"osd.{Id}");

    public static OsdConfig FromConf(RampartConf conf, int id)
    {
        string daemon = $"osd.{id}";
        if (id < 0)
            throw Error(conf, "id", $"osd id must be 0 or more, got {id}");
        var address = conf.GetEndPoint(daemon, "osd_addr");
        string data = conf.Get(daemon, "osd_data") is { } d
            ? MonitorConfig.ResolvePath(conf, d.Replace("$id", id.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal))
            : $"/var/lib/rampart/osd-{id}";
        string keyringPath = MonitorConfig.ResolvePath(conf, conf.Require(daemon, "keyring"));
        if (!File.Exists(keyringPath))
            throw Error(conf, "keyring", $"keyring {keyringPath} for {daemon}: no such file");
        var entry = Keyring.Load(keyringPath).Find(EntityName.Parse(daemon))
            ?? throw Error(conf, "keyring", $"keyring {keyringPath} has no key for {daemon} (create it with: rampart auth get-or-create {daemon} mon 'allow *' osd 'allow *')");
        double weight = Number(conf, daemon, "osd_weight", 1);
        if (weight <= 0)
            throw Error(conf, "osd_weight", $"osd_weight must be positive, got {weight}");
        var monitors = conf.Monitors;
        if (monitors.Count == 0)
            throw Error(conf, "mon_addr", $"{conf.Path} names no monitors ([mon.X] sections with mon_addr)");
        double chunk = Number(conf, daemon, "osd_chunk_size", ObjectStoreOptions.DefaultChunkSize);
        if (chunk is < 4096 or > 1 << 20 || !double.IsInteger(chunk) || !System.Numerics.BitOperations.IsPow2((int)chunk))
            throw Error(conf, "osd_chunk_size", $"osd_chunk_size must be a power of two from 4096 to 1048576, got {chunk}");
        return new OsdConfig(id, address, data, conf.Get(daemon, "host") ?? Environment.MachineName, weight, entry.Key, monitors,
            TimeSpan.FromSeconds(Number(conf, daemon, "osd_heartbeat_interval", 0.5)),
            TimeSpan.FromSeconds(Number(conf, daemon, "osd_heartbeat_grace", 3)),
            TimeSpan.FromSeconds(Number(conf, daemon, "osd_scrub_interval", 86400)),
            TimeSpan.FromSeconds(Number(conf, daemon, "osd_deep_scrub_interval", 7 * 86400)),
            (int)chunk,
            Number(conf, daemon, "osd_beacon_report_interval", 5));
    }

    private static double Number(RampartConf conf, string daemon, string key, double fallback)
    {
        if (conf.Get(daemon, key) is not { } text)
            return fallback;
        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) && double.IsFinite(value) && value >= 0
            ? value
            : throw Error(conf, key, $"{key} = '{text}' is not a non-negative number");
    }

    private static ConfigException Error(RampartConf conf, string key, string message) =>
        new([new ConfigDiagnostic(Severity.Error, conf.Path, 0, key, message)]);
}
