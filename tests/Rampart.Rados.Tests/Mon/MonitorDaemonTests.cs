using System.Net;
using Rampart.Common.Net;
using Rampart.Rados.Auth;
using Rampart.Rados.Client;
using Rampart.Rados.Config;
using Rampart.Rados.Maps;
using Rampart.Rados.Mon;

namespace Rampart.Rados.Tests.Mon;

/// <summary>Three monitors in process and a <see cref="MonClient"/>.</summary>
public sealed class MonitorDaemonTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rampart-mond-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private RampartConf WriteConf(int port, string adminKey, params int[] others)
    {
        File.WriteAllText(Path.Combine(_dir, "keyring"),
            $"[mon.]\n\tkey = {Keyring.GenerateKey()}\n[client.admin]\n\tkey = {adminKey}\n\tcaps mon = \"allow *\"\n");
        var path = Path.Combine(_dir, "rampart.conf");
        File.WriteAllText(path, $"[global]\nfsid = {Cluster.Fsid}\nkeyring = keyring\nmon_data = mon-$id\n[mon.a]\nmon_addr = 127.0.0.1:{port}\n"
            + string.Concat(others.Select((p, i) => $"[mon.{(char)('b' + i)}]\nmon_addr = 127.0.0.1:{p}\n")));
        return RampartConf.Load(path);
    }

    [Fact]
    public void Config_reads_the_conf_with_paths_relative_to_it()
    {
        var config = MonitorConfig.FromConf(WriteConf(6789, Keyring.GenerateKey()), "a");
        Assert.Equal(Cluster.Fsid, config.Fsid);
        Assert.Equal(Path.Combine(_dir, "mon-a"), config.DataDirectory);
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 7789), MonitorConfig.RaftEndPoint(config.Address));
        Assert.Throws<Common.Config.ConfigException>(() => MonitorConfig.FromConf(RampartConf.Load(Path.Combine(_dir, "rampart.conf")), "z"));
    }

    [Fact]
    public async Task Commands_commit_and_subscribers_receive_each_new_map()
    {
        string key = Keyring.GenerateKey();
        var conf = WriteConf(FreePortWithRaftPort(), key, FreePortWithRaftPort(), FreePortWithRaftPort());
        var daemons = new List<MonitorDaemon>();
        try
        {
            foreach (var name in new[] { "a", "b", "c" })
                daemons.Add(await MonitorDaemon.StartAsync(MonitorConfig.FromConf(conf, name), null, CancellationToken.None));
            await SubscribeAndCreatePool(conf, daemons[0]);
        }
        finally
        {
            foreach (var daemon in daemons)
                await daemon.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_second_monitor_on_the_same_data_directory_is_refused()
    {
        var conf = WriteConf(FreePortWithRaftPort(), Keyring.GenerateKey());
        await using var first = await MonitorDaemon.StartAsync(MonitorConfig.FromConf(conf, "a"), null, CancellationToken.None);
        var e = await Assert.ThrowsAsync<IOException>(() => MonitorDaemon.StartAsync(MonitorConfig.FromConf(conf, "a"), null, CancellationToken.None));
        Assert.Equal($"{Path.Combine(_dir, "mon-a")} is in use by another process (is mon.a already running?)", e.Message);
    }

    private static async Task SubscribeAndCreatePool(RampartConf conf, MonitorDaemon daemon)
    {
        await using var client = MonClient.FromConf(conf);

        // The first leader seeds the auth database from the bootstrap keyring.
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (daemon.State.AuthVersion < 2 && DateTime.UtcNow < deadline)
            await Task.Delay(20);
        Assert.NotNull(daemon.State.Auth.Find(EntityName.Parse("client.admin")));

        var pushed = new TaskCompletionSource<ClusterMap>(TaskCreationOptions.RunContinuationsAsynchronously);
        client.MapReceived += map => { if (map.FindPool("rbd") is not null) pushed.TrySetResult(map); };
        var map = await client.GetMapAsync();
        await client.SubscribeAsync(map.Epoch);

        var result = await client.CommandAsync(new PoolCreate("rbd"));
        Assert.True(result.Success, result.Message);
        var received = await pushed.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(map.Epoch + 1, received.Epoch);
        Assert.Equal(daemon.LeaderName, await client.GetLeaderAsync());
    }

    private static int FreePortWithRaftPort() => LoopbackPorts.Free(1, alsoFreeAt: 1000)[0];
}
