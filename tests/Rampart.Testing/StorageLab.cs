using System.Globalization;
using Rampart.Rados.Client;
using Rampart.Rados.Config;

namespace Rampart.Testing;

/// <summary>
/// A storage cluster on 127.0.0.1 as real processes: the monitors of a <see cref="MonLab"/> plus N
/// `rampart osd run` daemons, each its own CRUSH host, with their keys in the lab's keyring.
/// </summary>
public sealed class StorageLab : IDisposable
{
    public StorageLab(int osds = 4)
    {
        Mons = new MonLab();
        OsdIds = Enumerable.Range(0, osds).ToArray();
        var ports = MonLab.FreePorts(osds);
        string sections = string.Concat(OsdIds.Select(id => string.Create(CultureInfo.InvariantCulture,
            $"[osd.{id}]\nosd_addr = 127.0.0.1:{ports[id]}\nosd_data = {Mons.Dir}/osd-{id}\nhost = node{id}\n")));
        File.AppendAllText(Mons.Conf, sections);
        string keys = string.Concat(OsdIds.Select(id => $"[osd.{id}]\n\tkey = {MonLab.NewKey()}\n\tcaps mon = \"profile osd\"\n\tcaps osd = \"allow *\"\n"));
        File.AppendAllText(Path.Combine(Mons.Dir, "keyring"), keys);
    }

    public MonLab Mons { get; }
    public IReadOnlyList<int> OsdIds { get; }
    public string Conf => Mons.Conf;

    public string OsdData(int id) => Path.Combine(Mons.Dir, $"osd-{id}");

    public void StartOsd(int id) =>
        Mons.StartDaemon($"osd.{id}", $"osd.{id}", ["osd", "run", "--id", id.ToString(CultureInfo.InvariantCulture), "-c", Conf]);

    public void CrashOsd(int id) => Mons.Crash($"osd.{id}");

    public bool StopOsd(int id) => Mons.Stop($"osd.{id}");

    /// <summary>Monitors, a leader, every OSD, and pool <paramref name="pool"/> (size 3) all active+clean.</summary>
    public async Task StartAsync(string pool = "data", int pgNum = 32)
    {
        Mons.StartAll();
        await Mons.WaitForLeaderAsync();
        foreach (int id in OsdIds)
            StartOsd(id);
        await WaitForOsdsUpAsync(OsdIds.Count);
        await Mons.OkAsync("pool", "create", pool, "--pg-num", pgNum.ToString(CultureInfo.InvariantCulture));
        await WaitForCleanAsync();
    }

    public async Task WaitForOsdsUpAsync(int count, double seconds = 60)
    {
        await using var client = await ConnectAsync();
        await Wait.UntilAsync(() => Task.FromResult(client.Map.UpOsdCount == count), TimeSpan.FromSeconds(seconds), $"{count} OSDs up\n{Mons.Outputs()}");
    }

    /// <summary>Waits until every PG reports active+clean; returns how long it took.</summary>
    public async Task<TimeSpan> WaitForCleanAsync(double seconds = 90)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await using var client = await ConnectAsync();
        PgSummary? last = null;
        await Wait.UntilAsync(async () => (last = await PgSummary.CollectAsync(client)).AllActiveClean && last.Total > 0,
            TimeSpan.FromSeconds(seconds), () => $"all PGs active+clean (last: {(last is null ? "none" : AdminViews.PgStat(last))})\n{Mons.Outputs()}");
        return clock.Elapsed;
    }

    /// <summary>A client as client.admin, or as <paramref name="entity"/> with the keyring named in <paramref name="conf"/>.</summary>
    public Task<RadosClient> ConnectAsync(string? entity = null, string? conf = null) =>
        RadosClient.ConnectAsync(RampartConf.Load(conf ?? Conf), entity);

    public Task<string> OkAsync(params string[] args) => Mons.OkAsync(args);

    public Task<(int Exit, string Out, string Err)> RunAsync(params string[] args) => Mons.RunAsync(args);

    public void Dispose() => Mons.Dispose();
}
