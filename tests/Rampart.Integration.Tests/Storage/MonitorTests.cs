using System.Text.Json;
using Rampart.Testing;

namespace Rampart.Integration.Tests.Storage;

/// <summary>Three `rampart mon run` processes on loopback, driven through the admin CLI.</summary>
public sealed class MonitorTests : IDisposable
{
    private readonly MonLab _lab = new();

    public void Dispose() => _lab.Dispose();

    [Fact]
    public async Task Three_monitors_elect_a_leader_and_pools_get_pg_num_by_the_rule()
    {
        _lab.StartAll();
        string leader = await _lab.WaitForLeaderAsync();
        Assert.Contains(leader, _lab.Names);

        await _lab.OkAsync("pool", "create", "rbd");
        await _lab.OkAsync("pool", "create", "images", "--pg-num", "64", "--size", "2", "--min-size", "1");
        var detail = await _lab.OkAsync("pool", "ls", "detail");
        // No OSDs yet: osds × 100 / size / pools = 0, and pg_num is at least 1.
        Assert.Contains("'rbd' replicated size 3 min_size 2 crush_rule 0 (replicated_rule) pg_num 1", detail, StringComparison.Ordinal);
        Assert.Contains("'images' replicated size 2 min_size 1 crush_rule 0 (replicated_rule) pg_num 64", detail, StringComparison.Ordinal);
        Assert.Equal("rbd\nimages\n", await _lab.OkAsync("pool", "ls"));
        Assert.Equal("pg_num: 64\n", await _lab.OkAsync("pool", "get", "images", "pg_num"));

        using var status = JsonDocument.Parse(await _lab.OkAsync("status", "--json"));
        Assert.Equal(3, status.RootElement.GetProperty("mons").GetArrayLength());
        Assert.Equal(2, status.RootElement.GetProperty("pools").GetArrayLength());
    }

    [Fact]
    public async Task Pool_rm_is_refused_until_mon_allow_pool_delete()
    {
        _lab.StartAll();
        await _lab.WaitForLeaderAsync();
        await _lab.OkAsync("pool", "create", "scratch");

        var refused = await _lab.RunAsync("pool", "rm", "scratch", "scratch", "--yes-i-really-really-mean-it");
        Assert.Equal(1, refused.Exit);
        Assert.Contains("Error EPERM", refused.Err, StringComparison.Ordinal);
        Assert.Equal("scratch\n", await _lab.OkAsync("pool", "ls"));

        await _lab.OkAsync("config", "set", "mon_allow_pool_delete", "true");
        var unconfirmed = await _lab.RunAsync("pool", "rm", "scratch");
        Assert.Equal(1, unconfirmed.Exit);
        await _lab.OkAsync("pool", "rm", "scratch", "scratch", "--yes-i-really-really-mean-it");
        Assert.Equal("", await _lab.OkAsync("pool", "ls"));
    }

    [Fact]
    public async Task Leader_killed_the_others_serve_and_a_full_restart_keeps_the_pools()
    {
        _lab.StartAll();
        string leader = await _lab.WaitForLeaderAsync();
        await _lab.OkAsync("pool", "create", "before");

        _lab.Crash(leader);
        Assert.Contains("epoch", await _lab.OkAsync("status"), StringComparison.Ordinal);
        await _lab.OkAsync("pool", "create", "after");
        string next = await _lab.WaitForLeaderAsync();
        Assert.NotEqual(leader, next);

        foreach (var name in _lab.Names.Where(n => n != leader))
            Assert.True(_lab.Stop(name), $"mon.{name} did not stop on SIGTERM\n{_lab.Outputs()}");
        var down = await _lab.RunAsync("status");
        Assert.Equal(1, down.Exit);
        Assert.Contains("no monitor reachable at 127.0.0.1:", down.Err, StringComparison.Ordinal);
        Assert.Contains("connection refused", down.Err, StringComparison.Ordinal);

        _lab.StartAll();
        await _lab.WaitForLeaderAsync();
        Assert.Equal("before\nafter\n", await _lab.OkAsync("pool", "ls"));
    }

    [Fact]
    public async Task A_wrong_key_is_refused_with_a_clear_error()
    {
        _lab.StartAll();
        await _lab.WaitForLeaderAsync();
        _lab.WriteFile("bad.keyring", $"[client.admin]\n\tkey = {MonLab.NewKey()}\n");
        var refused = await _lab.RunAsync("status", "-c", _lab.ConfWithKeyring("bad.keyring"));
        Assert.Equal(1, refused.Exit);
        Assert.StartsWith("authentication failed for client.admin: wrong key", refused.Err, StringComparison.Ordinal);
        Assert.Single(refused.Err.Trim().Split('\n'));
    }

    [Fact]
    public async Task A_read_only_entity_reads_status_but_cannot_create_pools()
    {
        _lab.StartAll();
        await _lab.WaitForLeaderAsync();
        await _lab.OkAsync("auth", "get-or-create", "client.ro", "mon", "allow r", "-o", Path.Combine(_lab.Dir, "ro.keyring"));
        Assert.Contains("[client.ro]", await _lab.OkAsync("auth", "ls"), StringComparison.Ordinal);
        string conf = _lab.ConfWithKeyring("ro.keyring");

        var status = await _lab.RunAsync("status", "--id", "ro", "-c", conf);
        Assert.True(status.Exit == 0, status.Err);
        Assert.Contains("HEALTH_", status.Out, StringComparison.Ordinal);

        var create = await _lab.RunAsync("pool", "create", "nope", "--id", "ro", "-c", conf);
        Assert.Equal(1, create.Exit);
        Assert.Contains("Error EACCES: access denied: client.ro has mon 'allow r'", create.Err, StringComparison.Ordinal);
        Assert.Equal("", await _lab.OkAsync("pool", "ls"));
    }
}

/// <summary>The smallest cluster the issue allows: one monitor.</summary>
public sealed class SingleMonitorTests : IDisposable
{
    private readonly MonLab _lab = new("a");

    public void Dispose() => _lab.Dispose();

    [Fact]
    public async Task One_monitor_leads_alone_and_keeps_its_pools_across_a_restart()
    {
        _lab.StartAll();
        Assert.Equal("a", await _lab.WaitForLeaderAsync());
        await _lab.OkAsync("pool", "create", "solo", "--pg-num", "8");
        Assert.True(_lab.Stop("a"));
        _lab.Start("a");
        Assert.Equal("a", await _lab.WaitForLeaderAsync());
        Assert.Equal("solo\n", await _lab.OkAsync("pool", "ls"));
    }
}
