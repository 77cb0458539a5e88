using Rampart.Testing;
using Xunit.Abstractions;

namespace Rampart.Integration.Tests.Sql;

/// <summary>Each mariadbd in its own network namespace on one bridge; the primary's link is cut for real.</summary>
public sealed class SqlPartitionTests(ITestOutputHelper output) : IDisposable
{
    private readonly MariaDbLab _lab = new(namespaces: true);

    public void Dispose() => _lab.Dispose();

    [Fact]
    public async Task Isolated_primary_is_replaced_then_fenced_one_writer_and_no_acknowledged_write_lost()
    {
        await _lab.StartReplicationAsync();
        _lab.StartManager();
        await _lab.WaitForManagedPrimaryAsync("n1");
        var lan = _lab.Lan!;
        await using var writer = new Writer(_lab.WritePort, TimeSpan.FromMilliseconds(5), lan["mgr"]);
        await Wait.UntilAsync(() => Task.FromResult(writer.Acked.Count >= 50), TimeSpan.FromSeconds(20), () => $"writes through the proxy (errors {writer.Errors})\n{_lab.ManagerOutput()}");

        lan.SetLink("n1", up: false);
        double cut = writer.NowMs;
        string? primary = null;
        await Wait.UntilAsync(async () => (primary = await _lab.PrimaryAsync()) is "n2" or "n3", TimeSpan.FromSeconds(60), () => $"a new primary\n{_lab.ManagerOutput()}");
        await Wait.UntilAsync(() => Task.FromResult(writer.AckedSince(cut) >= 50), TimeSpan.FromSeconds(30), () => $"writes resume (errors {writer.Errors})\n{_lab.ManagerOutput()}");
        await writer.StopAsync();
        double gap = writer.LongestGapMs();

        // Healed: the manager fences the old primary (it was writable, unreachable) before anything else.
        lan.SetLink("n1", up: true);
        await Wait.UntilAsync(() => _lab.ReadOnlyAsync("n1"), TimeSpan.FromSeconds(30), () => $"n1 fenced after the partition heals\n{_lab.ManagerOutput()}");
        var writable = new List<string>();
        foreach (var n in _lab.Nodes) if (!await _lab.ReadOnlyAsync(n)) writable.Add(n);
        Assert.Equal([primary!], writable);

        var wids = await _lab.WidsAsync(primary!);
        Assert.Equal(wids.Count, wids.Distinct().Count());
        var present = wids.ToHashSet();
        var lost = writer.Acked.Where(a => !present.Contains(a.Id)).Select(a => a.Id).ToArray();
        Assert.True(lost.Length == 0, $"{lost.Length} acknowledged writes missing on {primary}: {string.Join(",", lost.Take(20))}");

        // n1 either rejoins (nothing errant) or is held out (a commit finished alone after semi-sync timed out).
        await Wait.UntilAsync(async () =>
        {
            using var s = await _lab.StatusAsync();
            return s.RootElement.GetProperty("heldOut").TryGetProperty("n1", out _) || await _lab.CaughtUpAsync("n1", primary!);
        }, TimeSpan.FromSeconds(30), () => $"n1 rejoined or held out\n{_lab.ManagerOutput()}");
        var (_, text, _) = await _lab.CliAsync("sql", "status");
        output.WriteLine($"partition write gap {gap:0} ms\n{text}");
    }
}
