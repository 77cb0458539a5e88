using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using MySqlConnector;
using Rampart.Linux;
using Rampart.Testing;

namespace Rampart.Integration.Tests.Sql;

/// <summary>
/// Three real mariadbd processes on 127.0.0.1 (own datadir, port, socket, server_id) with GTID + semi-sync
/// replication n1 → n2, n3, and a `rampart sql manager run` process with its proxy. Every node starts
/// read-only: the manager opens writes on the primary it finds. Everything is killed and deleted on Dispose.
/// </summary>
public sealed partial class MariaDbLab : IDisposable
{
    public const string AppUser = "app";
    public const string AppPassword = "apppass";
    private readonly Dictionary<string, Process> _servers = [];
    private readonly List<RouterProcess> _managers = [];

    private static int _counter;

    /// <param name="namespaces">Each mariadbd in its own network namespace (n1 10.214.0.11 …) and the manager in "mgr"
    /// (10.214.0.50, its proxy and control endpoint on 127.0.0.1 there), all on one bridge: links can be cut.</param>
    public MariaDbLab(string extraSql = "", int managers = 1, bool namespaces = false)
    {
        Dir = Directory.CreateTempSubdirectory("rampart-sql-").FullName;
        if (namespaces)
            Lan = VirtualLan.Create($"q{Environment.ProcessId % 1000}{Interlocked.Increment(ref _counter) % 100}",
                [("n1", "10.214.0.11/24"), ("n2", "10.214.0.12/24"), ("n3", "10.214.0.13/24"), ("mgr", "10.214.0.50/24")]);
        // FreePorts also checks port + 1000, the managers' default Raft port.
        var ports = MonLab.FreePorts(6 + 3 * (managers - 1));
        Ports = new Dictionary<string, int> { ["n1"] = ports[0], ["n2"] = ports[1], ["n3"] = ports[2] };
        WritePort = ports[3];
        ReadPort = ports[4];
        ManagerPort = ports[5];
        Managers = [.. "abc".Take(managers).Select(c => c.ToString())];
        var managerSections = string.Concat(Managers.Select((m, i) => i == 0
            ? string.Create(CultureInfo.InvariantCulture, $"[sql.manager.{m}]\naddr = 127.0.0.1:{ManagerPort}\n\n")
            : string.Create(CultureInfo.InvariantCulture, $"[sql.manager.{m}]\naddr = 127.0.0.1:{ports[3 + 3 * i + 2]}\nproxy_write = 127.0.0.1:{ports[3 + 3 * i]}\nproxy_read = 127.0.0.1:{ports[3 + 3 * i + 1]}\n\n")));
        for (int i = 0; i < Managers.Count; i++)
            _writePorts[Managers[i]] = i == 0 ? WritePort : ports[3 + 3 * i];
        Conf = Path.Combine(Dir, "rampart.conf");
        File.WriteAllText(Conf, string.Create(CultureInfo.InvariantCulture, $"""
            [sql]
            user = rampart
            password = rampartpass
            repl_user = repl
            repl_password = replpass
            check_interval = 0.2
            check_timeout = 0.5
            failure_threshold = 2
            max_failed_checks = 25
            semi_sync_wait = 10
            proxy_write = 127.0.0.1:{WritePort}
            proxy_read = 127.0.0.1:{ReadPort}
            proxy_hold = 15
            manager_data = {Dir}/manager-$id
            {extraSql}

            [sql.node.n1]
            address = {Host("n1")}:{Ports["n1"]}

            [sql.node.n2]
            address = {Host("n2")}:{Ports["n2"]}

            [sql.node.n3]
            address = {Host("n3")}:{Ports["n3"]}

            {managerSections}
            """));
    }

    private readonly Dictionary<string, int> _writePorts = [];

    public IReadOnlyList<string> Managers { get; }

    /// <summary>The proxy write port hosted by manager <paramref name="name"/>.</summary>
    public int WritePortOf(string name) => _writePorts[name];

    public string Dir { get; }
    public VirtualLan? Lan { get; }

    /// <summary>Where a node listens and is known to the others.</summary>
    public string Host(string node) => Lan is null ? "127.0.0.1" : $"10.214.0.{10 + int.Parse(node[1..], CultureInfo.InvariantCulture)}";

    /// <summary>Where the managers, replicas and proxy connect from, as MariaDB account hosts.</summary>
    private string ClientHost => Lan is null ? "127.0.0.1" : "10.214.0.%";
    public string Conf { get; }
    public IReadOnlyDictionary<string, int> Ports { get; }
    public int WritePort { get; }
    public int ReadPort { get; }
    public int ManagerPort { get; }
    public IEnumerable<string> Nodes => Ports.Keys;

    private string NodeDir(string node) => Path.Combine(Dir, node);
    private string Socket(string node) => Path.Combine(NodeDir(node), "mysqld.sock");

    /// <summary>Three servers, n1 primary, n2 and n3 replicating with GTID and semi-sync, both acknowledged.</summary>
    public async Task StartReplicationAsync()
    {
        await Task.WhenAll(Nodes.Select((n, i) => Task.Run(() => Install(n, i + 1))));
        await Task.WhenAll(Nodes.Select(StartServerAsync));
        // No binlog yet on any node: everything below goes through n1's binlog and is replicated.
        // Semi-sync stays off on n1 until replicas attach, or each statement would wait for the timeout.
        await RootAsync("n1", $"""
            SET GLOBAL rpl_semi_sync_master_enabled = OFF;
            CREATE USER 'repl'@'{ClientHost}' IDENTIFIED BY 'replpass';
            GRANT REPLICATION SLAVE, REPLICATION SLAVE ADMIN, REPLICATION CLIENT ON *.* TO 'repl'@'{ClientHost}';
            CREATE USER 'rampart'@'{ClientHost}' IDENTIFIED BY 'rampartpass';
            GRANT ALL PRIVILEGES ON *.* TO 'rampart'@'{ClientHost}' WITH GRANT OPTION;
            CREATE USER 'app'@'{ClientHost}' IDENTIFIED BY 'apppass';
            CREATE DATABASE dbha;
            GRANT ALL PRIVILEGES ON dbha.* TO 'app'@'{ClientHost}';
            CREATE TABLE dbha.writes (pk BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, wid BIGINT NOT NULL, KEY (wid)) ENGINE=InnoDB;
            """);
        foreach (var n in new[] { "n2", "n3" })
            await RootAsync(n, string.Create(CultureInfo.InvariantCulture, $"""
                SET GLOBAL gtid_slave_pos = '';
                CHANGE MASTER TO master_host = '{Host("n1")}', master_port = {Ports["n1"]}, master_user = 'repl', master_password = 'replpass', master_use_gtid = slave_pos, master_connect_retry = 1;
                START SLAVE;
                """));
        await RootAsync("n1", "SET GLOBAL rpl_semi_sync_master_enabled = ON");
        await Wait.UntilAsync(async () => await SemiSyncClientsAsync("n1") == 2 && await CaughtUpAsync("n2", "n1") && await CaughtUpAsync("n3", "n1"),
            TimeSpan.FromSeconds(30), "n2 and n3 caught up with n1 as semi-sync replicas");
    }

    private void Install(string node, int serverId)
    {
        var dir = Directory.CreateDirectory(NodeDir(node)).FullName;
        // Parallel installs in one shared /tmp collided on temporary table names: each node gets its own.
        Directory.CreateDirectory(Path.Combine(dir, "tmp"));
        File.WriteAllText(Path.Combine(dir, "my.cnf"), string.Create(CultureInfo.InvariantCulture, $"""
            [mariadbd]
            user = root
            datadir = {dir}/data
            socket = {dir}/mysqld.sock
            pid-file = {dir}/mysqld.pid
            port = {Ports[node]}
            bind-address = {Host(node)}
            log-error = {dir}/error.log
            tmpdir = {dir}/tmp
            skip-name-resolve
            performance-schema = OFF
            innodb-buffer-pool-size = 64M
            innodb-flush-log-at-trx-commit = 1
            sync-binlog = 1
            server-id = {serverId}
            log-bin = {dir}/data/mysql-bin
            relay-log = {dir}/data/relay-bin
            log-slave-updates = ON
            binlog-format = ROW
            gtid-domain-id = 0
            gtid-strict-mode = ON
            read-only = ON
            slave-net-timeout = 4
            rpl-semi-sync-master-enabled = ON
            rpl-semi-sync-slave-enabled = ON
            rpl-semi-sync-master-timeout = 10000
            rpl-semi-sync-master-wait-point = AFTER_SYNC

            """));
        var install = Process.Start(new ProcessStartInfo("mariadb-install-db",
            ["--no-defaults", "--user=root", $"--datadir={dir}/data", "--auth-root-authentication-method=normal", "--skip-test-db", $"--tmpdir={dir}/tmp"])
        { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var output = install.StandardOutput.ReadToEndAsync();
        var error = install.StandardError.ReadToEnd();
        install.WaitForExit();
        if (install.ExitCode != 0) throw new InvalidOperationException($"mariadb-install-db for {node} failed: {error}{output.Result}");
    }

    public async Task StartServerAsync(string node)
    {
        var info = new ProcessStartInfo("/usr/sbin/mariadbd", [$"--defaults-file={NodeDir(node)}/my.cnf"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        var process = Lan is null ? Process.Start(info)! : Lan[node].Start("/usr/sbin/mariadbd", [$"--defaults-file={NodeDir(node)}/my.cnf"]);
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _servers[node] = process;
        await Wait.UntilAsync(async () =>
        {
            if (process.HasExited) throw new InvalidOperationException($"mariadbd {node} exited: {ErrorLog(node)}");
            await using var c = await RootConnectionAsync(node);
            return true;
        }, TimeSpan.FromSeconds(60), () => $"mariadbd {node} accepting connections\n{ErrorLog(node)}");
    }

    public string ErrorLog(string node)
    {
        var path = Path.Combine(NodeDir(node), "error.log");
        return File.Exists(path) ? string.Join('\n', File.ReadLines(path).TakeLast(15)) : "";
    }

    /// <summary>kill -9 the server: no shutdown, connections reset.</summary>
    public void Crash(string node)
    {
        var p = _servers[node];
        p.Kill();
        p.WaitForExit();
        _servers.Remove(node);
    }

    /// <summary>SIGSTOP: the server hangs with its connections open (a blip, as clients and replicas see it).</summary>
    public void Freeze(string node) => Kill(_servers[node].Id, 19);

    public void Thaw(string node) => Kill(_servers[node].Id, 18);

    public async Task<MySqlConnection> RootConnectionAsync(string node)
    {
        var c = new MySqlConnection(new MySqlConnectionStringBuilder
        {
            Server = Socket(node),
            ConnectionProtocol = MySqlConnectionProtocol.UnixSocket,
            UserID = "root",
            Pooling = false,
            ConnectionTimeout = 5,
            AllowUserVariables = true,
        }.ConnectionString);
        try
        {
            await c.OpenAsync();
            return c;
        }
        catch
        {
            await c.DisposeAsync();
            throw;
        }
    }

    public async Task RootAsync(string node, string sql)
    {
        await using var c = await RootConnectionAsync(node);
        await using var cmd = new MySqlCommand(sql, c);
        await cmd.ExecuteNonQueryAsync();
    }

    public async Task<string?> ScalarAsync(string node, string sql, string? column = null)
    {
        await using var c = await RootConnectionAsync(node);
        await using var cmd = new MySqlCommand(sql, c);
        await using var r = await cmd.ExecuteReaderAsync();
        if (!await r.ReadAsync()) return null;
        int i = column is null ? 0 : r.GetOrdinal(column);
        return r.IsDBNull(i) ? null : Convert.ToString(r.GetValue(i), CultureInfo.InvariantCulture);
    }

    public async Task<int> SemiSyncClientsAsync(string node) =>
        int.Parse(await ScalarAsync(node, "SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_clients'", "Value") ?? "0", CultureInfo.InvariantCulture);

    public async Task<bool> ReadOnlyAsync(string node) => await ScalarAsync(node, "SELECT @@read_only") == "1";

    /// <summary>The replica follows <paramref name="primary"/> with both threads running and has applied all of its binlog.</summary>
    public async Task<bool> CaughtUpAsync(string replica, string primary)
    {
        var port = await ScalarAsync(replica, "SHOW SLAVE STATUS", "Master_Port");
        var io = await ScalarAsync(replica, "SHOW SLAVE STATUS", "Slave_IO_Running");
        var sql = await ScalarAsync(replica, "SHOW SLAVE STATUS", "Slave_SQL_Running");
        if (port != Ports[primary].ToString(CultureInfo.InvariantCulture) || io != "Yes" || sql != "Yes") return false;
        return await ScalarAsync(replica, "SELECT @@gtid_slave_pos") == await ScalarAsync(primary, "SELECT @@gtid_binlog_pos");
    }

    /// <summary>Every wid in dbha.writes on a node.</summary>
    public async Task<List<long>> WidsAsync(string node)
    {
        await using var c = await RootConnectionAsync(node);
        await using var cmd = new MySqlCommand("SELECT wid FROM dbha.writes", c);
        await using var r = await cmd.ExecuteReaderAsync();
        var wids = new List<long>();
        while (await r.ReadAsync()) wids.Add(r.GetInt64(0));
        return wids;
    }

    private readonly Dictionary<string, RouterProcess> _runningManagers = [];

    public void StartManager(string name = "a")
    {
        string[] args = ["sql", "manager", "run", "--id", name, "-c", Conf];
        var process = new RouterProcess(Lan is null
            ? Process.Start(new ProcessStartInfo(RampartCli.Path, args) { RedirectStandardOutput = true, RedirectStandardError = true })!
            : Lan["mgr"].Start(RampartCli.Path, args), $"sql manager {name}", null);
        _managers.Add(process);
        _runningManagers[name] = process;
    }

    /// <summary>kill -9 a manager (and its hook, if one runs).</summary>
    public void CrashManager(string name)
    {
        _runningManagers[name].Crash();
        _runningManagers.Remove(name);
    }

    /// <summary>The leader named by the managers, or null.</summary>
    public async Task<string?> LeaderAsync()
    {
        using var s = await StatusAsync();
        return s.RootElement.GetProperty("leader").GetString();
    }

    public string ManagerOutput() => string.Join("\n", _managers.Select(m => $"--- {m.Name}:\n{m.Output}"));

    /// <summary>Runs the CLI against the lab's conf.</summary>
    public async Task<(int Exit, string Out, string Err)> CliAsync(params string[] args)
    {
        var info = Lan is null
            ? new ProcessStartInfo(RampartCli.Path, [.. args, "-c", Conf]) { RedirectStandardOutput = true, RedirectStandardError = true }
            : new ProcessStartInfo("ip", ["netns", "exec", Lan["mgr"].Name, RampartCli.Path, .. args, "-c", Conf]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(150));
        try { await process.WaitForExitAsync(timeout.Token); }
        catch (OperationCanceledException) { process.Kill(true); throw new TimeoutException($"rampart {string.Join(' ', args)} did not finish"); }
        return (process.ExitCode, await stdout, await stderr);
    }

    public async Task<JsonDocument> StatusAsync()
    {
        var (exit, stdout, stderr) = await CliAsync("sql", "status", "--json");
        if (exit != 0) throw new InvalidOperationException($"sql status exited {exit}: {stderr}");
        return JsonDocument.Parse(stdout);
    }

    public async Task<string?> PrimaryAsync()
    {
        using var s = await StatusAsync();
        return s.RootElement.GetProperty("primary").GetString();
    }

    /// <summary>Waits until the manager has found a primary and opened writes through the proxy.</summary>
    public async Task WaitForManagedPrimaryAsync(string node)
    {
        await Wait.UntilAsync(async () =>
        {
            using var s = await StatusAsync();
            return s.RootElement.GetProperty("primary").GetString() == node && s.RootElement.GetProperty("writesTo").GetString() == node;
        }, TimeSpan.FromSeconds(30), () => $"manager routes writes to {node}\n{ManagerOutput()}");
    }

    public void Dispose()
    {
        foreach (var m in _managers) m.Dispose();
        foreach (var (_, p) in _servers)
        {
            try
            {
                if (!p.HasExited) { Kill(p.Id, 18); p.Kill(); p.WaitForExit(10_000); }
            }
            catch (InvalidOperationException) { }
            p.Dispose();
        }
        Lan?.Dispose();
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
