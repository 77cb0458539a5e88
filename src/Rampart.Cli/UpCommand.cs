using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Rampart.Common.Net;
using Rampart.Common.Processes;
using Rampart.Rados.Auth;
using Rampart.Rados.Client;
using Rampart.Rados.Config;
using Rampart.Rados.Mon;

namespace Rampart.Cli;

/// <summary>
/// `rampart up`: a local storage cluster on 127.0.0.1 — 3 monitors and N OSDs, each its own `rampart mon run` /
/// `rampart osd run` process — with DIR/rampart.conf and the keyring written, a default `rbd` pool, and a live
/// status line. Ctrl-C stops every daemon cleanly; running it again with the same DIR resumes with the data.
/// </summary>
internal static partial class UpCommand
{
    private static readonly string[] MonNames = ["a", "b", "c"];

    public static Command Build()
    {
        var dir = new Option<string>("--dir") { Description = "Where the conf, keyring, data and logs live", DefaultValueFactory = _ => "rampart-cluster" };
        var osds = new Option<int>("--osds") { Description = "OSD daemons (each its own CRUSH host)", DefaultValueFactory = _ => 3 };
        var up = new Command("up", "Start a local storage cluster (3 monitors, N OSDs, pool 'rbd') and show its status until Ctrl-C.") { dir, osds };
        up.SetAction((r, token) => RunAsync(Path.GetFullPath(r.GetValue(dir)!), r.GetValue(osds), token));
        return up;
    }

    private static async Task<int> RunAsync(string dir, int osdCount, CancellationToken token)
    {
        if (osdCount is < 1 or > 64)
        {
            Console.Error.WriteLine("rampart up: --osds must be 1..64");
            return 2;
        }
        string conf;
        DataDirLock dirLock;
        try
        {
            dirLock = DataDirLock.Acquire(dir, "'rampart up' on this directory");
            conf = Prepare(dir, osdCount);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or SocketException)
        {
            Console.Error.WriteLine($"rampart up: cannot prepare {dir}: {e.Message}");
            return 1;
        }
        using var held = dirLock;
        var parsed = RampartConf.Load(conf);
        var osdIds = parsed.Sections.Where(s => s.StartsWith("osd.", StringComparison.Ordinal)).Select(s => int.Parse(s[4..], CultureInfo.InvariantCulture)).Order().ToList();
        Directory.CreateDirectory(Path.Combine(dir, "log"));
        var daemons = new List<Daemon>();
        try
        {
            foreach (var name in MonNames)
                daemons.Add(Daemon.Start(dir, conf, $"mon.{name}", ["mon", "run", "--id", name, "-c", conf]));
            foreach (int id in osdIds)
                daemons.Add(Daemon.Start(dir, conf, $"osd.{id}", ["osd", "run", "--id", id.ToString(CultureInfo.InvariantCulture), "-c", conf]));
            Console.WriteLine($"rampart up: {MonNames.Length} monitors and {osdIds.Count} OSDs starting in {dir} (logs in {Path.Combine(dir, "log")})");
            await using var client = await ConnectAsync(parsed, token);
            // pg_num follows the OSD count (~100 PGs per OSD): create the pool once every OSD has booted.
            var booted = DateTime.UtcNow.AddSeconds(60);
            while (client.Map.UpOsdCount < osdIds.Count && DateTime.UtcNow < booted)
                await Task.Delay(200, token);
            var map = await client.Monitors.GetMapAsync(token);
            if (map.FindPool("rbd") is null)
            {
                var result = await client.Monitors.CommandAsync(new PoolCreate("rbd", Application: "rbd"), token);
                Console.WriteLine(result.Message);
            }
            Console.WriteLine($"""

                Try:
                  export RAMPART_CONF={conf}
                  ./rampart status
                  echo hello | ./rampart rados -p rbd put greeting -
                  ./rampart rados -p rbd get greeting -
                  ./rampart pg map rbd greeting
                  ./rampart rados -p rbd bench 10 write -b 4K -t 16
                  ./rampart rbd create vm1 --size 1G && ./rampart nbd serve &   # then: qemu-img info nbd://127.0.0.1:10809/rbd/vm1
                  kill -9 <pid of an OSD below>, watch it heal, then: ./rampart osd run --id N -c {conf}
                Daemons: {string.Join(", ", daemons.Select(d => $"{d.Name} pid {d.Process.Id}"))}
                Ctrl-C stops them all; './rampart up --dir {dir}' resumes with the data.

                """);
            await WatchAsync(client, daemons, token);
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception e) when (e is MonClientException or RadosException)
        {
            Console.Error.WriteLine($"rampart up: {e.Message}");
            return 1;
        }
        finally
        {
            Stop(daemons);
        }
        return 0;
    }

    /// <summary>The monitors take a moment to listen and elect: retry for up to 30 s.</summary>
    private static async Task<RadosClient> ConnectAsync(RampartConf conf, CancellationToken token)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            try
            {
                return await RadosClient.ConnectAsync(conf, null, token);
            }
            catch (MonClientException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(300, token);
            }
        }
    }

    /// <summary>One status line whenever it changes; a daemon that exits is announced with how to restart it.</summary>
    private static async Task WatchAsync(RadosClient client, List<Daemon> daemons, CancellationToken token)
    {
        string last = "";
        var announced = new HashSet<Daemon>();
        while (!token.IsCancellationRequested)
        {
            foreach (var d in daemons.Where(d => d.Process.HasExited && announced.Add(d)))
                Console.WriteLine($"{DateTime.Now:HH:mm:ss} {d.Name} exited with code {d.Process.ExitCode}; restart it with: {RampartCli()} {string.Join(' ', d.Arguments)}");
            string line;
            try
            {
                var pgs = await PgSummary.CollectAsync(client, token);
                var map = client.Map;
                var health = Rampart.Rados.Maps.ClusterHealth.Health(map, pgs.Counts);
                line = $"{Rampart.Rados.Maps.HealthReport.StatusText(health.Status)} | osds {map.UpOsdCount} up, {map.InOsdCount} in of {map.Osds.Count} | "
                    + $"pgs {string.Join(", ", pgs.ByState.Select(s => $"{s.Count} {s.State}"))} | {pgs.Objects} objects, {AdminViews.Size(pgs.UsedBytes)} | epoch {map.Epoch}";
            }
            catch (Exception e) when (e is MonClientException or RadosException or TimeoutException)
            {
                line = $"monitors unreachable: {e.Message}";
            }
            if (line != last)
                Console.WriteLine($"{DateTime.Now:HH:mm:ss} {line}");
            last = line;
            await Task.Delay(1000, token);
        }
    }

    private static string RampartCli() => Environment.GetEnvironmentVariable("RAMPART_WRAPPER") ?? Environment.ProcessPath ?? "rampart";

    /// <summary>Writes rampart.conf and the keyring on first use; later runs reuse them, adding OSDs if more are asked for.</summary>
    private static string Prepare(string dir, int osdCount)
    {
        Directory.CreateDirectory(dir);
        string conf = Path.Combine(dir, "rampart.conf");
        string keyringPath = Path.Combine(dir, "keyring");
        var keyring = File.Exists(keyringPath) ? Keyring.Load(keyringPath) : Keyring.Empty;
        var text = new StringBuilder();
        int existing = 0;
        if (File.Exists(conf))
        {
            text.Append(File.ReadAllText(conf));
            existing = RampartConf.Load(conf).Sections.Count(s => s.StartsWith("osd.", StringComparison.Ordinal));
        }
        else
        {
            text.Append(CultureInfo.InvariantCulture, $"# Written by 'rampart up'. Reference: docs/configuration.md\n[global]\nfsid = {Guid.NewGuid()}\nkeyring = keyring\nmon_data = mon-$id\nosd_data = osd-$id\n\n");
            foreach (var name in MonNames)
                text.Append(CultureInfo.InvariantCulture, $"[mon.{name}]\nmon_addr = 127.0.0.1:{LoopbackPorts.Free(1, alsoFreeAt: MonitorConfig.RaftPortOffset)[0]}\n\n");
            keyring = keyring
                .With(Entry("mon.", ("mon", "allow *")))
                .With(Entry("client.admin", ("mon", "allow *"), ("osd", "allow *")));
        }
        for (int id = existing; id < osdCount; id++)
        {
            text.Append(CultureInfo.InvariantCulture, $"[osd.{id}]\nosd_addr = 127.0.0.1:{LoopbackPorts.Free(1)[0]}\nhost = node{id}\n\n");
            keyring = keyring.With(Entry($"osd.{id}", ("mon", "profile osd"), ("osd", "allow *")));
        }
        File.WriteAllText(conf, text.ToString());
        keyring.Save(keyringPath);
        return conf;
    }

    private static KeyringEntry Entry(string name, params (string Service, string Caps)[] caps) =>
        new(EntityName.Parse(name), Convert.FromBase64String(Keyring.GenerateKey()), caps.Aggregate(Caps.None, (all, c) => all.With(c.Service, c.Caps)));

    private static void Stop(List<Daemon> daemons)
    {
        // OSDs first (they tell the monitors they are leaving), then the monitors.
        foreach (var group in new[] { daemons.Where(d => d.Name.StartsWith("osd.", StringComparison.Ordinal)), daemons.Where(d => d.Name.StartsWith("mon.", StringComparison.Ordinal)) })
        {
            var list = group.Where(d => !d.Process.HasExited).ToList();
            foreach (var d in list)
                d.Terminate();
            foreach (var d in list)
            {
                if (!d.Process.WaitForExit(TimeSpan.FromSeconds(10)))
                    d.Process.Kill(entireProcessTree: true);
            }
        }
        if (daemons.Count > 0)
            Console.WriteLine("rampart up: all daemons stopped");
    }

    private sealed class Daemon
    {
        public required string Name { get; init; }
        public required Process Process { get; init; }
        public required string[] Arguments { get; init; }

        public static Daemon Start(string dir, string conf, string name, string[] arguments)
        {
            var info = new ProcessStartInfo(Environment.ProcessPath!, arguments)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                WorkingDirectory = dir,
            };
            var process = Process.Start(info)!;
            var log = new StreamWriter(Path.Combine(dir, "log", $"{name}.log"), append: true) { AutoFlush = true };
            var sync = TextWriter.Synchronized(log);
            process.OutputDataReceived += (_, e) => { if (e.Data is not null) sync.WriteLine(e.Data); };
            process.ErrorDataReceived += (_, e) => { if (e.Data is not null) sync.WriteLine(e.Data); };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            return new Daemon { Name = name, Process = process, Arguments = arguments };
        }

        public void Terminate() => Kill(Process.Id, 15);
    }

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "kill")]
    private static partial int Kill(int pid, int signal);
}
