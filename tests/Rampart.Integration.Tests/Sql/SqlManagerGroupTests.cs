using Rampart.Testing;
using Xunit.Abstractions;

namespace Rampart.Integration.Tests.Sql;

/// <summary>Three `rampart sql manager run` processes in a Raft group over real MariaDB replication.</summary>
public sealed class SqlManagerGroupTests(ITestOutputHelper output) : IDisposable
{
    private MariaDbLab _lab = null!;

    public void Dispose() => _lab?.Dispose();

    private async Task<string> StartAsync(string extraSql = "")
    {
        _lab = new MariaDbLab(extraSql, managers: 3);
        await _lab.StartReplicationAsync();
        foreach (var m in _lab.Managers) _lab.StartManager(m);
        string? leader = null;
        await Wait.UntilAsync(async () => (leader = await _lab.LeaderAsync()) is not null, TimeSpan.FromSeconds(30), () => $"a manager leader\n{_lab.ManagerOutput()}");
        await _lab.WaitForManagedPrimaryAsync("n1");
        return leader!;
    }

    private async Task AssertNoLossAsync(string node, Writer writer)
    {
        var wids = await _lab.WidsAsync(node);
        Assert.Equal(wids.Count, wids.Distinct().Count());
        var present = wids.ToHashSet();
        var lost = writer.Acked.Where(a => !present.Contains(a.Id)).Select(a => a.Id).ToArray();
        Assert.True(lost.Length == 0, $"{lost.Length} acknowledged writes missing on {node}: {string.Join(",", lost.Take(20))}");
    }

    [Fact]
    public async Task Leader_killed_in_steady_state_another_leads_and_nothing_fails_over()
    {
        string leader = await StartAsync();
        string follower = _lab.Managers.First(m => m != leader);
        await using var writer = new Writer(_lab.WritePortOf(follower), TimeSpan.FromMilliseconds(5));
        await Wait.UntilAsync(() => Task.FromResult(writer.Acked.Count >= 50), TimeSpan.FromSeconds(20), () => $"writes through {follower}'s proxy\n{_lab.ManagerOutput()}");

        _lab.CrashManager(leader);
        string? next = null;
        await Wait.UntilAsync(async () => (next = await _lab.LeaderAsync()) is { } l && l != leader, TimeSpan.FromSeconds(30), () => $"a new leader\n{_lab.ManagerOutput()}");
        double after = writer.NowMs;
        await Wait.UntilAsync(() => Task.FromResult(writer.AckedSince(after) >= 100), TimeSpan.FromSeconds(30), () => $"writes continue\n{_lab.ManagerOutput()}");
        await writer.StopAsync();

        using var status = await _lab.StatusAsync();
        Assert.Equal(next, status.RootElement.GetProperty("leader").GetString());
        Assert.Equal("n1", status.RootElement.GetProperty("primary").GetString());
        Assert.Equal(0, status.RootElement.GetProperty("failovers").GetInt32());
        await AssertNoLossAsync("n1", writer);
        output.WriteLine($"leader {leader} killed, {next} leads; write gap {writer.LongestGapMs():0} ms");
    }

    [Fact]
    public async Task Leader_killed_during_a_failover_another_finishes_it()
    {
        // The pre-failover hook marks that the leader is mid-failover, then holds it there for a while.
        string marker = Path.Combine(Path.GetTempPath(), $"rampart-sql-hook-{Guid.NewGuid():N}");
        string leader = await StartAsync($"pre_failover_hook = /bin/sh -c 'echo \"$0 $*\" >> {marker}; sleep 3'\nhook_timeout = 10");
        try
        {
            string follower = _lab.Managers.First(m => m != leader);
            await using var writer = new Writer(_lab.WritePortOf(follower), TimeSpan.FromMilliseconds(5));
            await Wait.UntilAsync(() => Task.FromResult(writer.Acked.Count >= 50), TimeSpan.FromSeconds(20), () => $"writes through {follower}'s proxy\n{_lab.ManagerOutput()}");

            _lab.Crash("n1");
            await Wait.UntilAsync(() => Task.FromResult(File.Exists(marker)), TimeSpan.FromSeconds(30), () => $"the leader runs the pre-failover hook\n{_lab.ManagerOutput()}");
            _lab.CrashManager(leader);

            string? primary = null;
            await Wait.UntilAsync(async () =>
            {
                using var s = await _lab.StatusAsync();
                primary = s.RootElement.GetProperty("primary").GetString();
                return s.RootElement.GetProperty("leader").GetString() != leader && primary is "n2" or "n3" && s.RootElement.GetProperty("writesTo").GetString() == primary;
            }, TimeSpan.FromSeconds(60), () => $"another manager finishes the failover\n{_lab.ManagerOutput()}");
            double after = writer.NowMs;
            await Wait.UntilAsync(() => Task.FromResult(writer.AckedSince(after) >= 50), TimeSpan.FromSeconds(30), () => $"writes resume\n{_lab.ManagerOutput()}");
            await writer.StopAsync();

            string other = primary == "n2" ? "n3" : "n2";
            await Wait.UntilAsync(() => _lab.CaughtUpAsync(other, primary!), TimeSpan.FromSeconds(30), $"{other} follows {primary}");
            await AssertNoLossAsync(primary!, writer);
            Assert.Equal(2, File.ReadAllLines(marker).Length);
            output.WriteLine($"hook runs: {File.ReadAllText(marker)}write gap {writer.LongestGapMs():0} ms");
        }
        finally
        {
            File.Delete(marker);
        }
    }
}
