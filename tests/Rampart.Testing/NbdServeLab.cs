namespace Rampart.Testing;

/// <summary>
/// A storage cluster (3 monitors, N OSDs, pool rbd) with `rampart nbd serve` in front of it on 127.0.0.1 (a free
/// port) and a Unix socket, and the real client tools run in the lab's directory.
/// </summary>
public sealed class NbdServeLab : IAsyncDisposable
{
    private readonly int _port = MonLab.FreePorts(1)[0];

    public NbdServeLab(int osds = 3)
    {
        Lab = new StorageLab(osds);
        Tools = new Tools(Lab.Mons.Dir);
    }

    public StorageLab Lab { get; }

    public Tools Tools { get; }

    public string Dir => Lab.Mons.Dir;

    public string Socket => Path.Combine(Dir, "nbd.sock");

    /// <summary>nbd://127.0.0.1:PORT/EXPORT, as qemu, libnbd and fio spell it.</summary>
    public string Uri(string export) => $"nbd://127.0.0.1:{_port}/{export}";

    /// <summary>Appends <paramref name="conf"/> to rampart.conf, starts the cluster, then `nbd serve`, and waits until it lists its exports.</summary>
    public async Task StartAsync(string conf = "")
    {
        File.AppendAllText(Lab.Conf, conf);
        await Lab.StartAsync("rbd", pgNum: 32);
        Lab.Mons.StartDaemon("nbd", "nbd serve", ["nbd", "serve", "--listen", $"127.0.0.1:{_port}", "--socket", Socket, "-c", Lab.Conf]);
        await Wait.UntilAsync(async () => (await Tools.RunAsync("nbdinfo", "--list", Uri(""))).Exit == 0,
            TimeSpan.FromSeconds(30), () => $"nbd serve answering\n{Lab.Mons.Outputs()}");
    }

    public ValueTask DisposeAsync()
    {
        Tools.Dispose();
        Lab.Dispose();
        return ValueTask.CompletedTask;
    }
}
