using System.Globalization;
using Microsoft.Extensions.Logging;
using Rampart.Common.AdminSocket;
using Rampart.Rados.Client;
using Rampart.Rados.Config;
using Rampart.Rbd.Cache;
using Rampart.Rbd.Nbd;

namespace Rampart.Cli;

/// <summary>
/// The admin socket of a client process (`nbd serve`), as Ceph clients have one: `perf dump [SECTION…]`,
/// `config show`, `config get KEY` and `help`, read with `rampart daemon SOCKET COMMAND`.
/// </summary>
internal static class ClientAdminSocket
{
    public const string DefaultPath = "/run/rampart/$name.$pid.asok";

    /// <summary>
    /// The socket path: --admin-socket, else admin_socket for the entity in rampart.conf, else <see cref="DefaultPath"/>;
    /// "$name", "$id", "$pid" expanded. Null when set to "" or "none": no socket.
    /// </summary>
    public static string? PathFor(RampartConf conf, string entity, string? option)
    {
        string template = option ?? conf.Get(entity, "admin_socket") ?? DefaultPath;
        return template is "" or "none" ? null : AdminSocketServer.ExpandPath(template, entity, Environment.ProcessId);
    }

    /// <summary>
    /// Starts the socket with the process's perf counters and settings. A socket that cannot be made is a warning,
    /// not a failure: the process serves its clients without it (null is returned), as Ceph's do.
    /// </summary>
    public static AdminSocketServer? Start(string? path, PerfRegistry perf, IReadOnlyDictionary<string, string> settings, ILogger log)
    {
        if (path is null) return null;
        var server = new AdminSocketServer(path, log);
        server.Register("perf dump", "dump perf counters: every section, or those named", (args, json, _) =>
        {
            perf.WriteTo(json, args.Count == 0 ? null : [.. args]);
            return ValueTask.CompletedTask;
        });
        server.Register("config show", "dump the process's settings", (_, json, _) =>
        {
            json.WriteStartObject();
            foreach (var (key, value) in settings.OrderBy(s => s.Key, StringComparer.Ordinal)) json.WriteString(key, value);
            json.WriteEndObject();
            return ValueTask.CompletedTask;
        });
        server.Register("config get", "the value of one setting: config get KEY", (args, json, _) =>
        {
            if (args.Count != 1) throw new ArgumentException("usage: config get KEY");
            if (!settings.TryGetValue(args[0], out var value)) throw new ArgumentException($"no setting '{args[0]}' (see 'config show')");
            json.WriteStartObject();
            json.WriteString(args[0], value);
            json.WriteEndObject();
            return ValueTask.CompletedTask;
        });
        try
        {
            server.Start();
            return server;
        }
        catch (IOException e)
        {
            log.LogWarning("{Reason}; serving without an admin socket (set admin_socket or --admin-socket)", e.Message);
            return null;
        }
    }

    /// <summary>What `config show` prints for a client: who it is, where its files are, its client options.</summary>
    public static Dictionary<string, string> Settings(RampartConf conf, string entity, string? socketPath, RbdCacheConfig cache)
    {
        var settings = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["name"] = entity,
            ["conf"] = conf.Path,
            ["admin_socket"] = socketPath ?? "",
            ["keyring"] = conf.Get(entity, "keyring") ?? "",
            ["rados_osd_op_timeout"] = RadosClient.OpTimeoutFrom(conf, entity).TotalSeconds.ToString(CultureInfo.InvariantCulture),
        };
        foreach (var (key, value) in cache.Show()) settings[key] = value;
        return settings;
    }

    /// <summary>The NBD server's counters as a perf section.</summary>
    public static PerfCounters NbdSection(NbdCounters counters)
    {
        var section = new PerfCounters("nbd-server");
        section.Gauge("connections", () => counters.Connections);
        section.Gauge("requests", () => counters.Requests);
        section.Gauge("errors", () => counters.Errors);
        section.Gauge("malformed", () => counters.Malformed);
        return section;
    }
}
