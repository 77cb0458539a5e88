using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Rampart.Rados.Auth;
using Rampart.Rados.Client;
using Rampart.Rados.Messaging;
using Rampart.Rados.Osd;
using Rampart.Rados.Osd.Store;
using Rampart.Rados.Placement;
using Rampart.Testing;

namespace Rampart.Integration.Tests.Storage;

/// <summary>3 monitors and 4 OSDs as real processes on 127.0.0.1; pool "data" of size 3.</summary>
public sealed class ObjectStoreTests : IDisposable
{
    private const string Pool = "data";
    private readonly StorageLab _lab = new(osds: 4);

    public void Dispose() => _lab.Dispose();

    private static byte[] Content(string name, int version = 0) => Encoding.UTF8.GetBytes($"{name} v{version} " + new string('x', name.Length * 37 % 5000));

    private static async Task WriteAsync(IoContext io, int count, string prefix = "obj", int version = 0)
    {
        await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = 8 },
            async (i, token) => await io.WriteFullAsync($"{prefix}-{i}", Content($"{prefix}-{i}", version), token));
    }

    private static async Task AssertAllAsync(IoContext io, int count, string prefix = "obj", int version = 0)
    {
        for (int i = 0; i < count; i++)
            Assert.Equal(Content($"{prefix}-{i}", version), await io.ReadAllAsync($"{prefix}-{i}"));
    }

    /// <summary>Deep-scrubs every PG of the pool; returns the inconsistencies reported.</summary>
    private static async Task<List<string>> DeepScrubAllAsync(RadosClient client)
    {
        var found = new List<string>();
        foreach (var pg in client.Map.PgsOf(Pool))
            found.AddRange((await client.ScrubAsync(pg, deep: true)).Inconsistent);
        return found;
    }

    [Fact]
    public async Task Objects_and_omap_round_trip_through_the_cli()
    {
        await _lab.StartAsync(Pool);
        string file = _lab.Mons.WriteFile("input.bin", string.Concat(Enumerable.Range(0, 20000).Select(i => (char)('a' + i % 26))));
        await _lab.OkAsync("rados", "-p", Pool, "put", "big", file);
        string output = Path.Combine(_lab.Mons.Dir, "output.bin");
        await _lab.OkAsync("rados", "-p", Pool, "get", "big", output);
        Assert.Equal(await File.ReadAllBytesAsync(file), await File.ReadAllBytesAsync(output));
        Assert.Contains("size 20000", await _lab.OkAsync("rados", "-p", Pool, "stat", "big"), StringComparison.Ordinal);

        await _lab.OkAsync("rados", "-p", Pool, "setomapval", "dir", "alpha", "1");
        await _lab.OkAsync("rados", "-p", Pool, "setomapval", "dir", "beta", "2");
        Assert.Equal("2\n", await _lab.OkAsync("rados", "-p", Pool, "getomapval", "dir", "beta"));
        Assert.Equal("alpha\nbeta\n", await _lab.OkAsync("rados", "-p", Pool, "listomapkeys", "dir"));
        Assert.Equal(["big", "dir"], (await _lab.OkAsync("rados", "-p", Pool, "ls")).Split('\n', StringSplitOptions.RemoveEmptyEntries).Order());

        var map = await _lab.OkAsync("pg", "map", Pool, "big");
        Assert.Matches(@"object 'big' -> pg \d+\.[0-9a-f]+ -> up \(\[\d,\d,\d\], p\d\)", map);

        await _lab.OkAsync("rados", "-p", Pool, "rm", "big");
        var (exit, _, err) = await _lab.RunAsync("rados", "-p", Pool, "get", "big", output);
        Assert.Equal(1, exit);
        Assert.StartsWith("Error ENOENT", err, StringComparison.Ordinal);
        Assert.Contains("32 active+clean", await _lab.OkAsync("pg", "stat"), StringComparison.Ordinal);
    }

    /// <summary>
    /// Four writers store new objects while <paramref name="fault"/> hits the primary of the next object's PG; returns
    /// the longest time with no write acknowledged. Every acknowledged write must read back afterwards.
    /// </summary>
    /// <summary>Four writers creating objects one after another, recording every acknowledged write and the longest gap between acks.</summary>
    private sealed class WriteStream : IAsyncDisposable
    {
        private readonly IoContext _io;
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private readonly Lock _gapLock = new();
        private readonly CancellationTokenSource _stop = new();
        private readonly Task[] _writers;
        private long _lastAck, _maxGap;
        private int _next = -1;

        public WriteStream(IoContext io)
        {
            _io = io;
            _writers = Enumerable.Range(0, 4).Select(_ => Task.Run(WriteAsync)).ToArray();
        }

        public System.Collections.Concurrent.ConcurrentDictionary<string, byte[]> Acked { get; } = new();
        public string NextName => $"stream-{_next + 1}";
        public long MaxGapMs => Interlocked.Read(ref _maxGap);

        private async Task WriteAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                string name = $"stream-{Interlocked.Increment(ref _next)}";
                var data = Content(name);
                await _io.WriteFullAsync(name, data);
                Acked[name] = data;
                lock (_gapLock)
                {
                    long now = _clock.ElapsedMilliseconds;
                    _maxGap = Math.Max(_maxGap, now - _lastAck);
                    _lastAck = now;
                }
            }
        }

        public Task AckedAtLeastAsync(int count, string what) =>
            Wait.UntilAsync(() => Acked.Count >= count, TimeSpan.FromSeconds(30), what);

        /// <summary>Stops the writers (a failed write fails here) and reads every acknowledged write back.</summary>
        public async Task StopAndVerifyAsync()
        {
            _stop.Cancel();
            await Task.WhenAll(_writers);
            foreach (var (name, data) in Acked)
                Assert.Equal(data, await _io.ReadAllAsync(name));
        }

        public async ValueTask DisposeAsync()
        {
            _stop.Cancel();
            try { await Task.WhenAll(_writers); } catch (RadosException) { } // the test failed already
        }
    }

    private async Task<long> StreamThroughFaultAsync(Action<int> fault)
    {
        await using var client = await _lab.ConnectAsync();
        await using var stream = new WriteStream(client.OpenPool(Pool));
        await stream.AckedAtLeastAsync(200, "200 writes acknowledged");
        int victim = client.Map.Primary(client.Map.Locate(Pool, stream.NextName))!.Value;
        fault(victim);
        int atFault = stream.Acked.Count;
        await stream.AckedAtLeastAsync(atFault + 500, "500 more writes after the fault");
        await stream.StopAndVerifyAsync();
        Assert.False(client.Map.FindOsd(victim)!.Up);
        return stream.MaxGapMs;
    }

    [Fact]
    public async Task Growing_pg_num_splits_pgs_under_writes_and_an_osd_down_meanwhile_splits_when_it_returns()
    {
        await _lab.StartAsync(Pool, pgNum: 8);
        await using var client = await _lab.ConnectAsync();
        var io = client.OpenPool(Pool);
        await WriteAsync(io, 150);
        await io.OmapSetAsync("obj-3", [KeyValuePair.Create("k", new byte[] { 7 })]);
        _lab.CrashOsd(3);
        await Wait.UntilAsync(() => !client.Map.FindOsd(3)!.Up, TimeSpan.FromSeconds(10), "osd.3 marked down");

        await using var stream = new WriteStream(io);
        await stream.AckedAtLeastAsync(100, "100 writes before the split");
        Assert.EndsWith("pg_num to 32", (await _lab.OkAsync("pool", "set", Pool, "pg_num", "32")).Trim(), StringComparison.Ordinal);
        await Wait.UntilAsync(() => client.Map.FindPool(Pool)!.PgNum == 32, TimeSpan.FromSeconds(10), "the client sees pg_num 32");
        int atSplit = stream.Acked.Count;
        await stream.AckedAtLeastAsync(atSplit + 300, "300 more writes after the split");
        await stream.StopAndVerifyAsync();
        Assert.True(stream.MaxGapMs < 10_000, $"writes stalled {stream.MaxGapMs} ms");

        _lab.StartOsd(3);
        await _lab.WaitForCleanAsync();
        Assert.Equal(32, client.Map.PgsOf(Pool).Count());
        Assert.Empty(await DeepScrubAllAsync(client));
        await AssertAllAsync(io, 150);
        Assert.Equal(new byte[] { 7 }, (await io.OmapGetAsync("obj-3", ["k"]))["k"]);
        var listed = new HashSet<string>();
        await foreach (var name in io.ListObjectsAsync())
            Assert.True(listed.Add(name), $"{name} listed twice");
        Assert.Equal(150 + stream.Acked.Count, listed.Count);
        Assert.Contains("cannot shrink", (await _lab.RunAsync("pool", "set", Pool, "pg_num", "16")).Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Killing_the_primary_during_writes_loses_no_acknowledged_write_and_io_resumes_within_10_s()
    {
        await _lab.StartAsync(Pool);
        long stall = await StreamThroughFaultAsync(_lab.CrashOsd);
        Assert.True(stall < 10_000, $"writes stalled {stall} ms");
    }

    [Fact]
    public async Task A_frozen_primary_is_marked_down_after_the_heartbeat_grace_and_rejoins_when_it_wakes()
    {
        await _lab.StartAsync(Pool);
        int frozen = -1;
        long stall = await StreamThroughFaultAsync(osd => _lab.Mons.Daemon($"osd.{frozen = osd}").Freeze());
        // No reset to notice: peers wait out osd_heartbeat_grace (3 s), clients move on with the next map.
        Assert.True(stall < 10_000, $"writes stalled {stall} ms");
        _lab.Mons.Daemon($"osd.{frozen}").Thaw();
        await _lab.WaitForCleanAsync();
        await using var client = await _lab.ConnectAsync();
        Assert.True(client.Map.FindOsd(frozen)!.Up);
        Assert.Empty(await DeepScrubAllAsync(client));
    }

    [Fact]
    public async Task The_cluster_carries_on_when_the_monitor_leader_is_killed()
    {
        await _lab.StartAsync(Pool);
        string leader = (await _lab.Mons.LeaderAsync())!;
        _lab.Mons.Crash(leader);
        await using var client = await _lab.ConnectAsync();
        var io = client.OpenPool(Pool);
        await WriteAsync(io, 50);
        await AssertAllAsync(io, 50);
        await Wait.UntilAsync(async () => await _lab.Mons.LeaderAsync() is { } l && l != leader, TimeSpan.FromSeconds(30), "a new leader");
        await _lab.OkAsync("pool", "create", "after-leader-loss", "--pg-num", "8");
    }

    [Fact]
    public async Task A_restarted_osd_catches_up_to_active_clean_with_identical_replicas()
    {
        await _lab.StartAsync(Pool);
        await using var client = await _lab.ConnectAsync();
        var io = client.OpenPool(Pool);
        await WriteAsync(io, 100);
        _lab.CrashOsd(1);
        await Wait.UntilAsync(() => !client.Map.FindOsd(1)!.Up, TimeSpan.FromSeconds(10), "osd.1 marked down");
        await WriteAsync(io, 100, version: 1);       // overwrites while it is away
        await WriteAsync(io, 100, prefix: "new");    // and new objects
        await io.RemoveAsync("obj-7");
        _lab.StartOsd(1);
        await _lab.WaitForCleanAsync();
        Assert.Empty(await DeepScrubAllAsync(client));
        await io.WriteFullAsync("obj-7", Content("obj-7", 1));
        await AssertAllAsync(io, 100, version: 1);
        await AssertAllAsync(io, 100, prefix: "new");
    }

    [Fact]
    public async Task When_every_osd_dies_at_once_the_monitors_mark_them_down_without_reports()
    {
        await _lab.StartAsync(Pool);
        await _lab.OkAsync("config", "set", "mon", "mon_osd_report_timeout", "10");
        await using var client = await _lab.ConnectAsync();
        foreach (int id in _lab.OsdIds)
            _lab.CrashOsd(id); // no survivor is left to report the others
        await Wait.UntilAsync(() => Task.FromResult(client.Map.UpOsdCount == 0), TimeSpan.FromSeconds(40), () => $"every OSD marked down\n{_lab.Mons.Outputs()}");
        Assert.Contains("no beacon", _lab.Mons.Outputs(), StringComparison.Ordinal);
        foreach (int id in _lab.OsdIds)
            _lab.StartOsd(id);
        await _lab.WaitForCleanAsync();
        Assert.Equal(_lab.OsdIds.Count, client.Map.UpOsdCount); // beating again: none marked down wrongly
    }

    [Fact]
    public async Task A_pg_whose_last_active_osds_are_all_gone_waits_down_instead_of_serving_an_older_copy()
    {
        await _lab.StartAsync(Pool, pgNum: 1);
        await _lab.OkAsync("config", "set", "mon", "mon_osd_report_timeout", "10");
        await using var client = await _lab.ConnectAsync();
        var io = client.OpenPool(Pool);
        var pg = client.Map.PgsOf(Pool).Single();
        var acting = client.Map.ActingSet(pg);
        int a = acting[0], b = acting[1], c = acting[2];
        await io.WriteFullAsync("obj", Content("obj", 1));

        // c leaves; a and b acknowledge a newer version without it, then both die too.
        _lab.CrashOsd(c);
        await Wait.UntilAsync(() => !client.Map.FindOsd(c)!.Up, TimeSpan.FromSeconds(10), $"osd.{c} marked down");
        await io.WriteFullAsync("obj", Content("obj", 2));
        _lab.CrashOsd(a);
        _lab.CrashOsd(b);
        await Wait.UntilAsync(() => !client.Map.FindOsd(a)!.Up && !client.Map.FindOsd(b)!.Up, TimeSpan.FromSeconds(40), $"osd.{a} and osd.{b} marked down");

        // c returns, and with a and b out the PG maps to c and the fourth OSD: enough for min_size, but c's copy is
        // older than what was acknowledged. Nobody who answers knows the interval [a,b]; the monitors do.
        _lab.StartOsd(c);
        await _lab.OkAsync("osd", "out", a.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await _lab.OkAsync("osd", "out", b.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await Wait.UntilAsync(async () => (await PgSummary.CollectAsync(client)).States.GetValueOrDefault(pg) == "down",
            TimeSpan.FromSeconds(30), "the pg is down, waiting for the last active set");

        _lab.StartOsd(a); // out, but up: it answers with the newest copy
        await Wait.UntilAsync(async () => (await PgSummary.CollectAsync(client)).States.GetValueOrDefault(pg) is { } s && s.StartsWith("active", StringComparison.Ordinal),
            TimeSpan.FromSeconds(30), "the pg is active again");
        Assert.Equal(Content("obj", 2), await io.ReadAllAsync("obj"));
        await _lab.OkAsync("osd", "in", a.ToString(System.Globalization.CultureInfo.InvariantCulture)); // three OSDs in again: clean
        await _lab.WaitForCleanAsync();
        Assert.Empty(await DeepScrubAllAsync(client));
        Assert.Equal(Content("obj", 2), await io.ReadAllAsync("obj"));
    }

    [Fact]
    public async Task A_pool_created_while_an_osd_is_down_serves_io_at_once()
    {
        await _lab.StartAsync(Pool);
        await using var client = await _lab.ConnectAsync();
        _lab.CrashOsd(2);
        await Wait.UntilAsync(() => !client.Map.FindOsd(2)!.Up, TimeSpan.FromSeconds(10), "osd.2 marked down");
        // osd.2 is still in: CRUSH maps PGs of the new pool to it, but it cannot hold any of their data.
        await _lab.OkAsync("pool", "create", "late", "--pg-num", "16");
        await Wait.UntilAsync(() => client.Map.FindPool("late") is not null, TimeSpan.FromSeconds(10), "the client sees pool late");
        var late = client.OpenPool("late");
        await WriteAsync(late, 30);
        await AssertAllAsync(late, 30);
        _lab.StartOsd(2);
        await _lab.WaitForCleanAsync();
        await AssertAllAsync(late, 30);
    }

    [Fact]
    public async Task An_osd_marked_out_has_its_data_backfilled_to_the_others()
    {
        await _lab.StartAsync(Pool);
        await using var client = await _lab.ConnectAsync();
        var io = client.OpenPool(Pool);
        await WriteAsync(io, 150);
        await _lab.OkAsync("osd", "out", "3");
        await _lab.WaitForCleanAsync();
        Assert.DoesNotContain(client.Map.PgsOf(Pool), pg => client.Map.ActingSet(pg).Contains(3));
        Assert.Empty(await DeepScrubAllAsync(client));
        await AssertAllAsync(io, 150);
        // Its copies are strays once the new acting sets are clean: removed.
        await Wait.UntilAsync(async () => (await PgSummary.CollectAsync(client)).Osds[3].StoredPgs == 0, TimeSpan.FromSeconds(30), "osd.3 holds no PG");
    }

    [Fact]
    public async Task Deep_scrub_finds_a_corrupted_chunk_and_repairs_it_from_a_good_copy()
    {
        await _lab.StartAsync(Pool);
        await using var client = await _lab.ConnectAsync();
        var io = client.OpenPool(Pool);
        await io.WriteFullAsync("victim", Content("victim"));
        var pg = client.Map.Locate(Pool, "victim");
        int replica = client.Map.ActingSet(pg)[1];
        Assert.True(_lab.StopOsd(replica));
        using (var store = ObjectStore.Open(_lab.OsdData(replica)))
            store.CorruptChunkForTesting(pg, "victim", 0);
        _lab.StartOsd(replica);
        await _lab.WaitForCleanAsync();

        var first = await _lab.OkAsync("pg", "deep-scrub", pg.ToString());
        Assert.Contains("1 inconsistent, 1 repaired", first, StringComparison.Ordinal);
        Assert.Contains($"victim on osd.{replica}: stored chunk fails its crc32c", first, StringComparison.Ordinal);
        Assert.Contains("0 inconsistent, 0 repaired", await _lab.OkAsync("pg", "deep-scrub", pg.ToString()), StringComparison.Ordinal);
        Assert.Equal(Content("victim"), await io.ReadAllAsync("victim"));
    }

    [Fact]
    public async Task The_whole_cluster_stopped_and_started_again_has_all_its_data()
    {
        await _lab.StartAsync(Pool);
        await using (var client = await _lab.ConnectAsync())
        {
            var io = client.OpenPool(Pool);
            await WriteAsync(io, 100);
            await io.OmapSetAsync("index", [new("k", Encoding.UTF8.GetBytes("v"))]);
        }
        foreach (int id in _lab.OsdIds)
            Assert.True(_lab.StopOsd(id));
        foreach (var mon in _lab.Mons.Names)
            Assert.True(_lab.Mons.Stop(mon));

        _lab.Mons.StartAll();
        foreach (int id in _lab.OsdIds)
            _lab.StartOsd(id);
        await _lab.Mons.WaitForLeaderAsync();
        await _lab.WaitForCleanAsync();
        await using var again = await _lab.ConnectAsync();
        var pool = again.OpenPool(Pool);
        await AssertAllAsync(pool, 100);
        Assert.Equal("v", Encoding.UTF8.GetString((await pool.OmapGetAsync("index", ["k"]))["k"]));
    }

    [Fact]
    public async Task A_wrong_key_or_missing_caps_are_refused_with_a_clear_error()
    {
        await _lab.StartAsync(Pool);
        await _lab.OkAsync("pool", "create", "other", "--pg-num", "8");
        await _lab.OkAsync("auth", "get-or-create", "client.reader", "mon", "allow r", "osd", "allow r pool=data", "-o", Path.Combine(_lab.Mons.Dir, "reader.keyring"));
        await _lab.OkAsync("rados", "-p", Pool, "put", "doc", _lab.Conf);
        string conf = _lab.Mons.ConfWithKeyring("reader.keyring");

        await _lab.OkAsync("rados", "-p", Pool, "stat", "doc", "-c", conf, "--id", "reader");
        var (exit, _, err) = await _lab.RunAsync("rados", "-p", Pool, "put", "doc", _lab.Conf, "-c", conf, "--id", "reader");
        Assert.Equal(1, exit);
        Assert.Contains("Error EACCES: client.reader may not write pool 'data'", err, StringComparison.Ordinal);
        (exit, _, err) = await _lab.RunAsync("rados", "-p", "other", "ls", "-c", conf, "--id", "reader");
        Assert.Equal(1, exit);
        Assert.Contains("Error EACCES: client.reader may not read pool 'other'", err, StringComparison.Ordinal);

        _lab.Mons.WriteFile("wrong.keyring", $"[client.reader]\n\tkey = {MonLab.NewKey()}\n");
        (exit, _, err) = await _lab.RunAsync("rados", "-p", Pool, "stat", "doc", "-c", _lab.Mons.ConfWithKeyring("wrong.keyring"), "--id", "reader");
        Assert.Equal(1, exit);
        Assert.Contains("authentication failed for client.reader: wrong key", err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Malformed_and_truncated_frames_never_crash_an_osd()
    {
        await _lab.StartAsync(Pool);
        await using var client = await _lab.ConnectAsync();
        var target = IPEndPoint.Parse(client.Map.FindOsd(0)!.Address);
        var random = new Random(7);
        for (int i = 0; i < 20; i++)
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(target);
            var garbage = new byte[random.Next(1, 200)];
            random.NextBytes(garbage);
            if (i % 2 == 0)
                garbage[0] = Frame.Magic; // passes the first check, fails the header CRC or stalls truncated
            await socket.SendAsync(garbage);
            socket.Shutdown(SocketShutdown.Send);
        }

        // Authenticated, but the op payloads are truncated or mutated.
        var admin = Keyring.Load(Path.Combine(_lab.Mons.Dir, "keyring")).Find(EntityName.Parse("client.admin"))!;
        await using var connection = await Connection.ConnectAsync(target, admin.Name, admin.Key);
        var valid = new OpRequest(client.Map.FindPool(Pool)!.Id, 0, "x", client.Map.Epoch, "r1", SnapContext.Empty, null, [ObjectOp.WriteFull(new byte[100])]).Encode();
        for (int cut = 0; cut < valid.Length; cut += 7)
        {
            var error = await Assert.ThrowsAsync<RemoteRequestException>(() => connection.RequestAsync(OsdMessages.ClientOp, valid.AsMemory(0, cut)));
            Assert.StartsWith("Error EINVAL: malformed client op", error.Message, StringComparison.Ordinal);
        }
        for (int i = 0; i < 50; i++)
        {
            var mutated = (byte[])valid.Clone();
            mutated[random.Next(mutated.Length)] ^= (byte)random.Next(1, 256);
            try { await connection.RequestAsync(OsdMessages.ClientOp, mutated); }
            catch (RemoteRequestException) { }
        }

        var io = client.OpenPool(Pool);
        await io.WriteFullAsync("after", Content("after"));
        Assert.Equal(Content("after"), await io.ReadAllAsync("after"));
        Assert.True(_lab.Mons.IsRunning("osd.0"));
        Assert.True(client.Map.FindOsd(0)!.Up);
    }
}
