using System.Text.Json;
using Rampart.Testing;
using Xunit.Abstractions;

namespace Rampart.Integration.Tests.Sql;

/// <summary>Real MariaDB 10.11 replication (GTID + semi-sync) managed by a real `rampart sql manager run`.</summary>
public sealed class SqlFailoverTests(ITestOutputHelper output) : IDisposable
{
    private readonly MariaDbLab _lab = new();

    public void Dispose() => _lab.Dispose();

    private async Task<Writer> StartAsync()
    {
        await _lab.StartReplicationAsync();
        _lab.StartManager();
        await _lab.WaitForManagedPrimaryAsync("n1");
        var writer = new Writer(_lab.WritePort, TimeSpan.FromMilliseconds(5));
        await Wait.UntilAsync(() => Task.FromResult(writer.Acked.Count >= 50), TimeSpan.FromSeconds(20), () => $"50 writes through the proxy (errors {writer.Errors})\n{_lab.ManagerOutput()}");
        return writer;
    }

    /// <summary>Every acknowledged id is on the node, none twice.</summary>
    private async Task AssertNoLossAsync(string node, Writer writer)
    {
        var wids = await _lab.WidsAsync(node);
        Assert.Equal(wids.Count, wids.Distinct().Count());
        var present = wids.ToHashSet();
        var lost = writer.Acked.Where(a => !present.Contains(a.Id)).Select(a => a.Id).ToArray();
        Assert.True(lost.Length == 0, $"{lost.Length} acknowledged writes missing on {node}: {string.Join(",", lost.Take(20))}");
    }

    /// <summary>The port of the server a new connection to the proxy's read endpoint reaches.</summary>
    private async Task<int> ReadEndpointServesAsync()
    {
        await using var c = new MySqlConnector.MySqlConnection($"Server=127.0.0.1;Port={_lab.ReadPort};User ID={MariaDbLab.AppUser};Password={MariaDbLab.AppPassword};Pooling=false;Connection Timeout=5");
        await c.OpenAsync();
        await using var cmd = new MySqlConnector.MySqlCommand("SELECT @@port", c);
        return Convert.ToInt32(await cmd.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task Kill9_primary_fails_over_to_a_replica_with_no_acknowledged_write_lost()
    {
        await using var writer = await StartAsync();
        var readPorts = new HashSet<int>();
        for (int i = 0; i < 4; i++) readPorts.Add(await ReadEndpointServesAsync());
        Assert.Equal(new HashSet<int> { _lab.Ports["n2"], _lab.Ports["n3"] }, readPorts);
        double killedAt = writer.NowMs;
        _lab.Crash("n1");

        string? primary = null;
        await Wait.UntilAsync(async () => (primary = await _lab.PrimaryAsync()) is "n2" or "n3", TimeSpan.FromSeconds(30), () => $"a new primary\n{_lab.ManagerOutput()}");
        await Wait.UntilAsync(() => Task.FromResult(writer.AckedSince(killedAt) >= 50), TimeSpan.FromSeconds(30), () => $"writes resume through the proxy (errors {writer.Errors})\n{_lab.ManagerOutput()}");
        await writer.StopAsync();

        string other = primary == "n2" ? "n3" : "n2";
        Assert.False(await _lab.ReadOnlyAsync(primary!));
        await Wait.UntilAsync(() => _lab.CaughtUpAsync(other, primary!), TimeSpan.FromSeconds(30), $"{other} follows {primary}");
        await AssertNoLossAsync(primary!, writer);
        await AssertNoLossAsync(other, writer);
        await Wait.UntilAsync(async () => await ReadEndpointServesAsync() == _lab.Ports[other], TimeSpan.FromSeconds(10), $"reads go to {other}, the remaining replica");

        double gap = writer.LongestGapMs();
        using var status = await _lab.StatusAsync();
        var op = status.RootElement.GetProperty("lastOperation");
        var detected = op.GetProperty("detectedAt").GetDateTimeOffset();
        var first = op.GetProperty("firstFailureAt").GetDateTimeOffset();
        var open = op.GetProperty("writesOpenAt").GetDateTimeOffset();
        output.WriteLine($"write gap {gap:0} ms; detection {(detected - first).TotalMilliseconds:0} ms after first failed check; writes open {(open - detected).TotalMilliseconds:0} ms after detection; acked {writer.Acked.Count}, errors {writer.Errors}");
        Assert.True(op.GetProperty("succeeded").GetBoolean());
        Assert.Equal(1, status.RootElement.GetProperty("failovers").GetInt32());
    }

    [Fact]
    public async Task Switchover_moves_the_primary_with_zero_loss_and_the_old_primary_follows()
    {
        await using var writer = await StartAsync();
        var (exit, stdout, stderr) = await _lab.CliAsync("sql", "switchover", "--to", "n3");
        Assert.True(exit == 0, $"switchover exited {exit}: {stderr}\n{_lab.ManagerOutput()}");
        Assert.Contains("primary is n3", stdout, StringComparison.Ordinal);
        double after = writer.NowMs;
        await Wait.UntilAsync(() => Task.FromResult(writer.AckedSince(after) >= 50), TimeSpan.FromSeconds(30), () => $"writes resume on n3 (errors {writer.Errors})\n{_lab.ManagerOutput()}");
        await writer.StopAsync();

        Assert.False(await _lab.ReadOnlyAsync("n3"));
        Assert.True(await _lab.ReadOnlyAsync("n1"));
        await Wait.UntilAsync(() => _lab.CaughtUpAsync("n1", "n3"), TimeSpan.FromSeconds(30), "old primary n1 follows n3");
        await Wait.UntilAsync(() => _lab.CaughtUpAsync("n2", "n3"), TimeSpan.FromSeconds(30), "n2 follows n3");
        foreach (var n in _lab.Nodes) await AssertNoLossAsync(n, writer);
        output.WriteLine($"switchover write gap {writer.LongestGapMs():0} ms, acked {writer.Acked.Count}, errors {writer.Errors}");
    }

    [Fact]
    public async Task A_blip_shorter_than_the_threshold_causes_no_failover()
    {
        await using var writer = await StartAsync();
        // SIGSTOP until the manager suspects n1: its checks time out, but the replicas' IO threads keep their
        // connection (slave-net-timeout 4 s), so it waits instead of failing over (max_failed_checks is far off).
        var frozen = System.Diagnostics.Stopwatch.StartNew();
        _lab.Freeze("n1");
        try
        {
            await Wait.UntilAsync(() => Task.FromResult(_lab.ManagerOutput().Contains("PrimarySuspect", StringComparison.Ordinal)),
                TimeSpan.FromSeconds(3.5), () => $"the manager suspects n1\n{_lab.ManagerOutput()}");
        }
        finally { _lab.Thaw("n1"); }
        output.WriteLine($"suspected {frozen.ElapsedMilliseconds} ms after the freeze");
        double after = writer.NowMs;
        await Wait.UntilAsync(() => Task.FromResult(writer.AckedSince(after) >= 50), TimeSpan.FromSeconds(30), () => $"writes continue on n1\n{_lab.ManagerOutput()}");
        await writer.StopAsync();

        using var status = await _lab.StatusAsync();
        Assert.Equal("n1", status.RootElement.GetProperty("primary").GetString());
        Assert.Equal(0, status.RootElement.GetProperty("failovers").GetInt32());
        Assert.Equal(JsonValueKind.Null, status.RootElement.GetProperty("lastOperation").ValueKind);
        await AssertNoLossAsync("n1", writer);
    }

    [Fact]
    public async Task Old_primary_rejoins_as_replica_when_contained()
    {
        await using var writer = await StartAsync();
        await writer.StopAsync();
        _lab.Crash("n1");
        await Wait.UntilAsync(async () => await _lab.PrimaryAsync() is "n2" or "n3", TimeSpan.FromSeconds(30), () => $"a new primary\n{_lab.ManagerOutput()}");
        string primary = (await _lab.PrimaryAsync())!;
        await _lab.StartServerAsync("n1");
        await Wait.UntilAsync(() => _lab.CaughtUpAsync("n1", primary), TimeSpan.FromSeconds(30), () => $"n1 rejoins as a replica of {primary}\n{_lab.ManagerOutput()}");
        Assert.True(await _lab.ReadOnlyAsync("n1"));
        using var status = await _lab.StatusAsync();
        Assert.Empty(status.RootElement.GetProperty("heldOut").EnumerateObject());
    }

    [Fact]
    public async Task Old_primary_with_errant_transactions_is_held_out()
    {
        await using var writer = await StartAsync();
        await writer.StopAsync();
        // A commit only n1 has: replicas' IO threads stopped, semi-sync off so it does not wait.
        foreach (var n in new[] { "n2", "n3" }) await _lab.RootAsync(n, "STOP SLAVE IO_THREAD");
        await _lab.RootAsync("n1", "SET GLOBAL rpl_semi_sync_master_enabled = OFF; INSERT INTO dbha.writes (wid) VALUES (-1)");
        _lab.Crash("n1");
        foreach (var n in new[] { "n2", "n3" }) await _lab.RootAsync(n, "START SLAVE IO_THREAD");

        await Wait.UntilAsync(async () => await _lab.PrimaryAsync() is "n2" or "n3", TimeSpan.FromSeconds(30), () => $"a new primary\n{_lab.ManagerOutput()}");
        await _lab.StartServerAsync("n1");
        await Wait.UntilAsync(async () =>
        {
            using var s = await _lab.StatusAsync();
            return s.RootElement.GetProperty("heldOut").TryGetProperty("n1", out _);
        }, TimeSpan.FromSeconds(30), () => $"n1 held out\n{_lab.ManagerOutput()}");
        Assert.Null(await _lab.ScalarAsync("n1", "SHOW SLAVE STATUS", "Master_Port"));
        Assert.True(await _lab.ReadOnlyAsync("n1"));
        var (_, text, _) = await _lab.CliAsync("sql", "status");
        Assert.Contains("held out: n1:", text, StringComparison.Ordinal);
        output.WriteLine(text);
    }
}
