using System.Globalization;
using MySqlConnector;
using Rampart.Sql.Config;

namespace Rampart.Sql.Topology;

/// <summary>Reads one node's replication state with MySqlConnector. The only place that knows the SQL for discovery.</summary>
public sealed class NodeProbe(SqlConfig config)
{
    /// <summary>A fresh connection (no pool: a check must prove the server accepts connections now).</summary>
    public async Task<MySqlConnection> OpenAsync(SqlNodeConfig node, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var builder = new MySqlConnectionStringBuilder
        {
            Server = node.Host,
            Port = (uint)node.Port,
            UserID = config.User,
            Password = config.Password,
            Pooling = false,
            ConnectionTimeout = (uint)Math.Max(1, Math.Ceiling(timeout.TotalSeconds)),
            DefaultCommandTimeout = 0,
            AllowUserVariables = true,
        };
        var connection = new MySqlConnection(builder.ConnectionString);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout);
        try
        {
            await connection.OpenAsync(limit.Token).ConfigureAwait(false);
            return connection;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw new TimeoutException($"no answer within {timeout.TotalMilliseconds:0} ms");
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>One check: never throws for a node that is down, returns it as unreachable with the reason.</summary>
    public async Task<NodeObservation> ObserveAsync(SqlNodeConfig node, CancellationToken cancellationToken)
    {
        try
        {
            // MySqlConnector reads the handshake of a frozen server until its whole-second ConnectionTimeout, not
            // until the token fires (and may do so before its first await): the check runs on its own and its
            // deadline abandons it (the task still disposes its connection).
            var check = Task.Run(() => CheckAsync(node, cancellationToken), CancellationToken.None);
            _ = check.ContinueWith(static t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            return await check.WaitAsync(config.CheckTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is MySqlException or TimeoutException or System.Net.Sockets.SocketException or IOException or InvalidOperationException
            || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return NodeObservation.Down(node.Name, e is OperationCanceledException or TimeoutException ? $"no answer within {config.CheckTimeout.TotalMilliseconds:0} ms" : e.Message);
        }
    }

    private async Task<NodeObservation> CheckAsync(SqlNodeConfig node, CancellationToken cancellationToken)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(config.CheckTimeout);
        await using var c = await OpenAsync(node, config.CheckTimeout, limit.Token).ConfigureAwait(false);
        return await ReadAsync(node.Name, c, limit.Token).ConfigureAwait(false);
    }

    private static async Task<NodeObservation> ReadAsync(string name, MySqlConnection c, CancellationToken token)
    {
        int serverId;
        bool readOnly, semiMasterEnabled;
        string current, slave, binlog;
        await using (var cmd = new MySqlCommand("SELECT @@server_id, @@read_only, @@gtid_current_pos, @@gtid_slave_pos, @@gtid_binlog_pos, @@rpl_semi_sync_master_enabled", c))
        await using (var r = await cmd.ExecuteReaderAsync(token).ConfigureAwait(false))
        {
            await r.ReadAsync(token).ConfigureAwait(false);
            serverId = Convert.ToInt32(r.GetValue(0), CultureInfo.InvariantCulture);
            readOnly = Convert.ToInt64(r.GetValue(1), CultureInfo.InvariantCulture) != 0;
            current = r.GetString(2);
            slave = r.GetString(3);
            binlog = r.GetString(4);
            semiMasterEnabled = Convert.ToInt64(r.GetValue(5), CultureInfo.InvariantCulture) != 0;
        }

        var status = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        await using (var cmd = new MySqlCommand("SHOW GLOBAL STATUS WHERE Variable_name IN ('Rpl_semi_sync_master_status','Rpl_semi_sync_master_clients','Rpl_semi_sync_slave_status')", c))
        await using (var r = await cmd.ExecuteReaderAsync(token).ConfigureAwait(false))
            while (await r.ReadAsync(token).ConfigureAwait(false))
                status[r.GetString(0)] = r.GetString(1);

        ReplicaStatus? replica = null;
        await using (var cmd = new MySqlCommand("SHOW SLAVE STATUS", c))
        await using (var r = await cmd.ExecuteReaderAsync(token).ConfigureAwait(false))
        {
            if (await r.ReadAsync(token).ConfigureAwait(false))
            {
                string Col(string column) => r.IsDBNull(r.GetOrdinal(column)) ? "" : Convert.ToString(r.GetValue(r.GetOrdinal(column)), CultureInfo.InvariantCulture) ?? "";
                string host = Col("Master_Host");
                // RESET SLAVE (without ALL) leaves an empty row behind: no master host means no replication.
                if (host.Length > 0)
                {
                    replica = new ReplicaStatus
                    {
                        MasterHost = host,
                        MasterPort = int.Parse(Col("Master_Port"), CultureInfo.InvariantCulture),
                        IoRunning = Col("Slave_IO_Running"),
                        SqlRunning = Col("Slave_SQL_Running") == "Yes",
                        IoPos = GtidSet.Parse(Col("Gtid_IO_Pos")),
                        SecondsBehind = long.TryParse(Col("Seconds_Behind_Master"), CultureInfo.InvariantCulture, out long behind) ? behind : null,
                        LastIoErrno = int.TryParse(Col("Last_IO_Errno"), CultureInfo.InvariantCulture, out int errno) ? errno : 0,
                        LastIoError = Col("Last_IO_Error"),
                        LastSqlError = Col("Last_SQL_Error"),
                        UsingGtid = Col("Using_Gtid"),
                    };
                }
            }
        }

        return new NodeObservation
        {
            Node = name,
            Reachable = true,
            ServerId = serverId,
            ReadOnly = readOnly,
            CurrentPos = GtidSet.Parse(current),
            SlavePos = GtidSet.Parse(slave),
            BinlogPos = GtidSet.Parse(binlog),
            Replica = replica,
            SemiSyncMasterEnabled = semiMasterEnabled,
            SemiSyncMasterActive = status.GetValueOrDefault("Rpl_semi_sync_master_status") == "ON",
            SemiSyncClients = int.TryParse(status.GetValueOrDefault("Rpl_semi_sync_master_clients"), CultureInfo.InvariantCulture, out int clients) ? clients : 0,
            SemiSyncSlaveActive = status.GetValueOrDefault("Rpl_semi_sync_slave_status") == "ON",
        };
    }

    /// <summary>Every node checked in parallel: one round.</summary>
    public async Task<CheckRound> RoundAsync(TimeProvider time, CancellationToken cancellationToken)
    {
        var at = time.GetUtcNow();
        var results = await Task.WhenAll(config.Nodes.Select(n => ObserveAsync(n, cancellationToken))).ConfigureAwait(false);
        return new CheckRound(at, results.ToDictionary(o => o.Node));
    }
}
