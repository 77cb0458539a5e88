using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging;
using MySqlConnector;
using Rampart.Common.Processes;
using Rampart.Consensus;
using Rampart.Sql.Config;
using Rampart.Sql.Topology;

namespace Rampart.Sql.Failover;

/// <summary>Where the proxy's routes go; the manager implements it over its <c>TcpProxy</c> pair.</summary>
public interface IRouter
{
    Task RouteWritesAsync(string? node, CancellationToken cancellationToken);
    Task RouteReadsAsync(IReadOnlyList<string> nodes, CancellationToken cancellationToken);
}

/// <summary>The thin shell under <see cref="FailoverMachine"/>: runs each action against MariaDB, the proxy or a hook.</summary>
public sealed partial class ActionExecutor(SqlConfig config, NodeProbe probe, IRouter router, TimeProvider time, ILogger logger)
{
    private static readonly TimeSpan ActionConnectTimeout = TimeSpan.FromSeconds(2);

    /// <summary>Runs one action; null on success, else the error. Never throws for MariaDB or hook failures.</summary>
    public async Task<string?> ExecuteAsync(SqlAction action, CancellationToken token)
    {
        try
        {
            switch (action)
            {
                case RouteWrites w:
                    await router.RouteWritesAsync(w.Node, token).ConfigureAwait(false);
                    return null;
                case RouteReads r:
                    await router.RouteReadsAsync(r.Nodes, token).ConfigureAwait(false);
                    return null;
                case Alert a:
                    Log.Alert(logger, a.Kind is AlertKind.PrimaryDiscovered or AlertKind.SemiSyncRestored ? LogLevel.Information : LogLevel.Warning, a.Kind, a.Node, a.Message);
                    return null;
                case RunHook h:
                    return await RunHookAsync(h, token).ConfigureAwait(false);
                case StopIoThreads stop:
                    {
                        var errors = await Task.WhenAll(stop.Nodes.Select(n => WithNodeAsync(n, async c =>
                        {
                            await ExecAsync(c, "STOP SLAVE IO_THREAD", token).ConfigureAwait(false);
                            return null;
                        }, token))).ConfigureAwait(false);
                        return errors.OfType<string>().FirstOrDefault();
                    }
                case WaitRelayApplied w:
                    return await WithNodeAsync(w.Node, async c =>
                    {
                        // The IO thread has stopped (its primary is gone): what it received is final.
                        var io = await ScalarAsync(c, "SHOW SLAVE STATUS", token, column: "Gtid_IO_Pos").ConfigureAwait(false) ?? "";
                        return await GtidWaitAsync(c, io, token).ConfigureAwait(false);
                    }, token).ConfigureAwait(false);
                case WaitCaughtUp w:
                    {
                        string? pos = null;
                        var err = await WithNodeAsync(w.Source, async c => { pos = await ScalarAsync(c, "SELECT @@gtid_binlog_pos", token).ConfigureAwait(false); return null; }, token).ConfigureAwait(false);
                        if (err is not null) return $"cannot read {w.Source}'s position: {err}";
                        return await WithNodeAsync(w.Node, c => GtidWaitAsync(c, pos ?? "", token), token).ConfigureAwait(false);
                    }
                case Promote p:
                    return await WithNodeAsync(p.Node, async c =>
                    {
                        await ExecAsync(c, "STOP SLAVE", token).ConfigureAwait(false);
                        await ExecAsync(c, "RESET SLAVE ALL", token).ConfigureAwait(false);
                        // OFF then ON resets Rpl_semi_sync_master_status to ON. As a replica the node's own status went OFF
                        // (its SQL thread committed with no semi-sync replica), and while OFF the first commits would be
                        // acknowledged without waiting for any replica.
                        await ExecAsync(c, "SET GLOBAL rpl_semi_sync_master_enabled = OFF", token).ConfigureAwait(false);
                        await ExecAsync(c, "SET GLOBAL rpl_semi_sync_master_enabled = ON", token).ConfigureAwait(false);
                        return null;
                    }, token).ConfigureAwait(false);
                case Repoint r:
                    {
                        var primary = config.Node(r.Primary);
                        return await WithNodeAsync(r.Node, async c =>
                        {
                            await ExecAsync(c, "STOP SLAVE", token).ConfigureAwait(false);
                            // A former primary's own commits are in its binlog; without this it would ask for them again.
                            if (r.FormerPrimary) await ExecAsync(c, "SET GLOBAL gtid_slave_pos = @@gtid_binlog_pos", token).ConfigureAwait(false);
                            await ExecAsync(c, "SET GLOBAL rpl_semi_sync_slave_enabled = ON", token).ConfigureAwait(false);
                            await using (var cmd = new MySqlCommand(
                                "CHANGE MASTER TO master_host = @h, master_port = @p, master_user = @u, master_password = @pw, master_use_gtid = slave_pos, master_connect_retry = 1", c))
                            {
                                cmd.Parameters.AddWithValue("@h", primary.Host);
                                cmd.Parameters.AddWithValue("@p", primary.Port);
                                cmd.Parameters.AddWithValue("@u", config.ReplUser);
                                cmd.Parameters.AddWithValue("@pw", config.ReplPassword);
                                await cmd.ExecuteNonQueryAsync(token).ConfigureAwait(false);
                            }
                            await ExecAsync(c, "START SLAVE", token).ConfigureAwait(false);
                            return null;
                        }, token).ConfigureAwait(false);
                    }
                case WaitSemiSyncReplica s:
                    return await WithNodeAsync(s.Node, async c =>
                    {
                        var deadline = time.GetUtcNow() + config.SemiSyncWait;
                        while (true)
                        {
                            var clients = await ScalarAsync(c, "SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_clients'", token, column: "Value").ConfigureAwait(false);
                            var active = await ScalarAsync(c, "SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_status'", token, column: "Value").ConfigureAwait(false);
                            if (int.TryParse(clients, CultureInfo.InvariantCulture, out int n) && n > 0 && active == "ON") return null;
                            if (time.GetUtcNow() > deadline) return $"no semi-sync replica attached within {config.SemiSyncWait.TotalSeconds:0.#} s; writes stay closed";
                            await Task.Delay(TimeSpan.FromMilliseconds(10), time, token).ConfigureAwait(false);
                        }
                    }, token).ConfigureAwait(false);
                case OpenWrites o:
                    return await WithNodeAsync(o.Node, async c => { await ExecAsync(c, "SET GLOBAL read_only = OFF", token).ConfigureAwait(false); return null; }, token).ConfigureAwait(false);
                case Fence f:
                    return await WithNodeAsync(f.Node, async c =>
                    {
                        await ExecAsync(c, "SET SESSION lock_wait_timeout = 5", token).ConfigureAwait(false);
                        // Kill first: a session stuck in a commit would otherwise make read_only=ON wait for it.
                        if (f.KillConnections) await KillClientsAsync(c, token).ConfigureAwait(false);
                        await ExecAsync(c, "SET GLOBAL read_only = ON", token).ConfigureAwait(false);
                        if (f.KillConnections) await KillClientsAsync(c, token).ConfigureAwait(false);
                        return null;
                    }, token, f.Required ? null : config.CheckTimeout).ConfigureAwait(false); // a dead old primary must not hold up the checks
                default:
                    return $"unknown action {action}";
            }
        }
        // A manager that lost leadership must stop acting: NotLeaderException goes up, everything else is this action's failure.
        catch (Exception e) when (e is MySqlException or TimeoutException or IOException or InvalidOperationException or FormatException && e is not NotLeaderException)
        {
            return e.Message;
        }
    }

    /// <summary>Runs a plan in order; stops at the first failed critical action (running the rollback if nothing was promoted yet).</summary>
    public async Task<OperationResult> RunPlanAsync(FailoverPlan plan, Func<string, GtidSet?, Task> onPromoted, Func<bool> mayAct, CancellationToken token)
    {
        var timeline = new List<TimelineEntry>();
        bool promoted = false;
        GtidSet? promotedAt = null;
        Log.PlanStarted(logger, plan.Kind, plan.OldPrimary, plan.Candidate, string.Join(" → ", plan.Actions));
        foreach (var action in plan.Actions)
        {
            // Checked before every step: a leader deposed mid-operation leaves the rest to its successor.
            if (!mayAct()) throw new NotLeaderException("sql manager: lost leadership during the operation");
            var at = time.GetUtcNow();
            var watch = Stopwatch.StartNew();
            var error = await ExecuteAsync(action, token).ConfigureAwait(false);
            timeline.Add(new TimelineEntry(at, Describe(action), watch.Elapsed.TotalMilliseconds, error));
            if (error is null)
            {
                Log.StepDone(logger, plan.Kind, Describe(action), watch.Elapsed.TotalMilliseconds);
                if (action is Promote p)
                {
                    promoted = true;
                    promotedAt = await PositionAsync(p.Node, token).ConfigureAwait(false);
                    await onPromoted(p.Node, promotedAt).ConfigureAwait(false);
                }
                continue;
            }
            if (!action.Critical)
            {
                Log.StepFailed(logger, plan.Kind, Describe(action), error, "continuing");
                continue;
            }
            Log.StepFailed(logger, plan.Kind, Describe(action), error, promoted ? "stopping" : "stopping and rolling back");
            if (!promoted)
                foreach (var undo in plan.Rollback)
                    timeline.Add(new TimelineEntry(time.GetUtcNow(), "rollback " + Describe(undo), 0, await ExecuteAsync(undo, token).ConfigureAwait(false)));
            return new OperationResult(plan, false, promoted, $"{Describe(action)}: {error}", promotedAt, timeline);
        }
        return new OperationResult(plan, true, promoted, null, promotedAt, timeline);
    }

    private async Task<GtidSet?> PositionAsync(string node, CancellationToken token)
    {
        GtidSet? pos = null;
        await WithNodeAsync(node, async c => { pos = GtidSet.Parse(await ScalarAsync(c, "SELECT @@gtid_current_pos", token).ConfigureAwait(false)); return null; }, token).ConfigureAwait(false);
        return pos;
    }

    public static string Describe(SqlAction action) => action switch
    {
        RouteWrites w => $"RouteWrites {w.Node ?? "(hold)"}",
        RouteReads r => $"RouteReads [{string.Join(",", r.Nodes)}]",
        RunHook h => $"Hook {h.Phase}",
        StopIoThreads t => $"StopIoThreads [{string.Join(",", t.Nodes)}]",
        WaitRelayApplied w => $"WaitRelayApplied {w.Node}",
        WaitCaughtUp w => $"WaitCaughtUp {w.Node}<-{w.Source}",
        Promote p => $"Promote {p.Node}",
        Repoint r => $"Repoint {r.Node}->{r.Primary}",
        WaitSemiSyncReplica s => $"WaitSemiSyncReplica {s.Node}",
        OpenWrites o => $"OpenWrites {o.Node}",
        Fence f => $"Fence {f.Node}",
        Alert a => $"Alert {a.Kind} {a.Node}",
        _ => action.ToString(),
    };

    private async Task<string?> RunHookAsync(RunHook h, CancellationToken token)
    {
        var command = h.Phase == HookPhase.Pre ? config.PreFailoverHook : config.PostFailoverHook;
        if (command is null) return null;
        var old = config.Node(h.OldPrimary);
        var now = config.Node(h.NewPrimary);
        // Arguments: phase, old and new primary names and addresses (MHA's master_ip_failover_script takes the same facts).
        string full = $"{command} {(h.Phase == HookPhase.Pre ? "pre" : "post")} {ScriptRunner.Quote(old.Name)} {ScriptRunner.Quote(old.Address)} {ScriptRunner.Quote(now.Name)} {ScriptRunner.Quote(now.Address)}";
        var result = await ScriptRunner.RunAsync(full, config.HookTimeout, cancellationToken: token).ConfigureAwait(false);
        return result.Succeeded ? null : result.TimedOut ? $"hook timed out after {config.HookTimeout.TotalSeconds:0.#} s" : $"hook exited {result.ExitCode} {result.Error}";
    }

    private async Task<string?> WithNodeAsync(string node, Func<MySqlConnection, Task<string?>> body, CancellationToken token, TimeSpan? connectTimeout = null)
    {
        MySqlConnection c;
        try
        {
            c = await probe.OpenAsync(config.Node(node), connectTimeout ?? ActionConnectTimeout, token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is MySqlException or TimeoutException or IOException or System.Net.Sockets.SocketException)
        {
            return $"{node} unreachable: {e.Message}";
        }
        await using (c.ConfigureAwait(false))
        {
            try
            {
                return await body(c).ConfigureAwait(false);
            }
            catch (MySqlException e)
            {
                return $"{node}: {e.Message}";
            }
        }
    }

    private async Task<string?> GtidWaitAsync(MySqlConnection c, string pos, CancellationToken token)
    {
        await using var cmd = new MySqlCommand("SELECT MASTER_GTID_WAIT(@pos, @timeout)", c);
        cmd.Parameters.AddWithValue("@pos", pos);
        cmd.Parameters.AddWithValue("@timeout", config.RelayApplyTimeout.TotalSeconds);
        var result = Convert.ToInt64(await cmd.ExecuteScalarAsync(token).ConfigureAwait(false), CultureInfo.InvariantCulture);
        return result == 0 ? null : $"did not reach {pos} within {config.RelayApplyTimeout.TotalSeconds:0.#} s";
    }

    private static async Task ExecAsync(MySqlConnection c, string sql, CancellationToken token)
    {
        await using var cmd = new MySqlCommand(sql, c);
        await cmd.ExecuteNonQueryAsync(token).ConfigureAwait(false);
    }

    private static async Task<string?> ScalarAsync(MySqlConnection c, string sql, CancellationToken token, string? column = null)
    {
        await using var cmd = new MySqlCommand(sql, c);
        await using var r = await cmd.ExecuteReaderAsync(token).ConfigureAwait(false);
        if (!await r.ReadAsync(token).ConfigureAwait(false)) return null;
        int i = column is null ? 0 : r.GetOrdinal(column);
        return r.IsDBNull(i) ? null : Convert.ToString(r.GetValue(i), CultureInfo.InvariantCulture);
    }

    /// <summary>KILL every client session: not replication threads, not system threads, not ourselves.</summary>
    private static async Task KillClientsAsync(MySqlConnection c, CancellationToken token)
    {
        var ids = new List<long>();
        await using (var cmd = new MySqlCommand(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND USER NOT IN ('system user', 'event_scheduler') " +
            "AND COMMAND NOT IN ('Binlog Dump', 'Daemon', 'Slave_IO', 'Slave_SQL', 'Slave_worker')", c))
        await using (var r = await cmd.ExecuteReaderAsync(token).ConfigureAwait(false))
            while (await r.ReadAsync(token).ConfigureAwait(false))
                ids.Add(Convert.ToInt64(r.GetValue(0), CultureInfo.InvariantCulture));
        foreach (long id in ids)
        {
            try { await ExecAsync(c, string.Create(CultureInfo.InvariantCulture, $"KILL CONNECTION {id}"), token).ConfigureAwait(false); }
            catch (MySqlException) { } // already gone
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 5001, Message = "sql: {Kind} {Node}: {Message}")]
        public static partial void Alert(ILogger logger, LogLevel level, AlertKind kind, string node, string message);

        [LoggerMessage(EventId = 5002, Level = LogLevel.Information, Message = "sql {Kind}: {Old} -> {New}: {Steps}")]
        public static partial void PlanStarted(ILogger logger, OperationKind kind, string old, string @new, string steps);

        [LoggerMessage(EventId = 5003, Level = LogLevel.Information, Message = "sql {Kind}: {Step} done in {Ms:0.0} ms")]
        public static partial void StepDone(ILogger logger, OperationKind kind, string step, double ms);

        [LoggerMessage(EventId = 5004, Level = LogLevel.Warning, Message = "sql {Kind}: {Step} failed: {Error}; {What}")]
        public static partial void StepFailed(ILogger logger, OperationKind kind, string step, string error, string what);
    }
}
