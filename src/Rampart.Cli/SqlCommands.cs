using System.CommandLine;
using System.Text.Json;
using Rampart.Common.Config;
using Rampart.Sql.Config;
using Rampart.Sql.Manager;

namespace Rampart.Cli;

/// <summary>`rampart sql manager run | status | switchover`: MariaDB replication failover.</summary>
internal static class SqlCommands
{
    public static Command Build()
    {
        var sql = new Command("sql", "MariaDB/MySQL replication failover: managers, proxy, status, switchover.");
        var manager = new Command("manager", "SQL managers (they watch the nodes, fail over, host the proxy).");
        manager.Subcommands.Add(BuildRun());
        sql.Subcommands.Add(manager);
        sql.Subcommands.Add(BuildStatus());
        sql.Subcommands.Add(BuildSwitchover());
        return sql;
    }

    private static Option<string?> Conf() => new("--conf", "-c") { Description = $"rampart.conf with [sql] (default ${SqlConfig.EnvironmentVariable}, else {SqlConfig.DefaultPath})" };

    private static Command BuildRun()
    {
        var id = new Option<string?>("--id", "-i") { Description = "Manager name: its [sql.manager.NAME] section (optional when the conf has at most one)" };
        var conf = Conf();
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Log debug details too" };
        var run = new Command("run", "Run a SQL manager in the foreground (Ctrl-C or SIGTERM stops it).") { id, conf, verbose };
        run.SetAction((result, token) => Foreground.RunAsync("sql manager run",
            () =>
            {
                var config = SqlConfig.Load(SqlConfig.Resolve(result.GetValue(conf)));
                return (Config: config, Name: ManagerName(config, result.GetValue(id)));
            },
            c => $"sql manager {c.Name}", result.GetValue(verbose),
            (c, logs, ct) => SqlManager.StartAsync(c.Config, c.Name, logs, null, ct),
            m => m.DisposeAsync().AsTask(), token));
        return run;
    }

    private static string ManagerName(SqlConfig config, string? id)
    {
        if (id is not null)
            return config.Managers.Any(m => m.Name == id) ? id
                : throw new ConfigException([new ConfigDiagnostic(Severity.Error, config.Path, 0, "sql.manager", $"no [sql.manager.{id}] section (have: {string.Join(", ", config.Managers.Select(m => m.Name))})")]);
        return config.Managers.Count switch
        {
            0 => "manager",
            1 => config.Managers[0].Name,
            _ => throw new ConfigException([new ConfigDiagnostic(Severity.Error, config.Path, 0, "sql.manager", $"several [sql.manager.NAME] sections: say which with --id ({string.Join(", ", config.Managers.Select(m => m.Name))})")]),
        };
    }

    private static Command BuildStatus()
    {
        var conf = Conf();
        var json = new Option<bool>("--json") { Description = "Machine-readable output" };
        var status = new Command("status", "The topology as the managers see it: primary, replicas, lag, GTID positions, semi-sync, the last failover.") { conf, json };
        status.SetAction(async (result, token) =>
        {
            var (reply, error) = await AskAsync(result.GetValue(conf), new ControlRequest("status"), TimeSpan.FromSeconds(5), token);
            if (reply?.Status is not { } s)
            {
                Console.Error.WriteLine($"rampart sql status: {error ?? reply?.Error}");
                return 1;
            }
            Console.Write(result.GetValue(json) ? JsonSerializer.Serialize(s, SqlStatus.Json) + "\n" : s.Render());
            return 0;
        });
        return status;
    }

    private static Command BuildSwitchover()
    {
        var conf = Conf();
        var to = new Option<string?>("--to") { Description = "Node to promote (default: the most advanced eligible replica)" };
        var switchover = new Command("switchover", "Planned primary change with zero loss: the primary is fenced, the new one catches up exactly, then takes writes.") { conf, to };
        switchover.SetAction(async (result, token) =>
        {
            var (reply, error) = await AskAsync(result.GetValue(conf), new ControlRequest("switchover", result.GetValue(to)), TimeSpan.FromSeconds(120), token);
            if (reply is not { Ok: true })
            {
                Console.Error.WriteLine($"rampart sql switchover: {error ?? reply?.Error}");
                return 1;
            }
            Console.WriteLine($"switchover done: primary is {reply.Status?.Primary}");
            return 0;
        });
        return switchover;
    }

    /// <summary>Asks the managers of the conf in turn; the first that answers decides.</summary>
    private static async Task<(ControlReply? Reply, string? Error)> AskAsync(string? confPath, ControlRequest request, TimeSpan timeout, CancellationToken token)
    {
        SqlConfig config;
        try { config = SqlConfig.Load(SqlConfig.Resolve(confPath)); }
        catch (ConfigException e) { return (null, e.Message); }
        if (config.Managers.Count == 0) return (null, $"{config.Path} has no [sql.manager.NAME] section with addr: no manager to ask");
        var errors = new List<string>();
        ControlReply? fallback = null;
        // The leader is the one that acts and sees the nodes; a follower names it, and is asked only if the leader is not reachable.
        var order = new List<SqlManagerConfig>(config.Managers);
        for (int i = 0; i < order.Count && i < 2 * config.Managers.Count; i++)
        {
            var m = order[i];
            try
            {
                var reply = await SqlControl.RequestAsync(m.Address, request, timeout, token);
                string? leader = reply.Redirect ?? reply.Status?.Leader;
                if (leader is null || leader == m.Name || config.Managers.All(x => x.Name != leader)) return (reply, null);
                fallback ??= reply.Ok ? reply : null;
                order.Insert(i + 1, config.Managers.First(x => x.Name == leader));
            }
            catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or OperationCanceledException or JsonException)
            {
                errors.Add($"{m.Name} ({m.Address}): {e.Message}");
            }
        }
        return fallback is not null ? (fallback, null) : (null, $"no manager answered: {string.Join("; ", errors)}");
    }
}
