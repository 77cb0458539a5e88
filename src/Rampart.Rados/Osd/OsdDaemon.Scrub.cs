using System.Text.Json;
using Microsoft.Extensions.Logging;
using Rampart.Rados.Client;
using Rampart.Rados.Messaging;
using Rampart.Rados.Osd.Store;
using Rampart.Rados.Placement;

namespace Rampart.Rados.Osd;

/// <summary>What a scrub found: objects compared, inconsistencies ("object on osd.N: reason"), copies repaired.</summary>
public sealed record ScrubResult(string Pg, bool Deep, int Objects, IReadOnlyList<string> Inconsistent, int Repaired, string? Error = null);

public sealed partial class OsdDaemon
{
    private static readonly TimeSpan AuthRefreshInterval = TimeSpan.FromSeconds(30);

    /// <summary>Periodic work: refresh the auth database, scrub PGs whose interval has passed (one at a time).</summary>
    private async Task HousekeepingLoopAsync()
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(5));
        long lastAuth = Environment.TickCount64;
        try
        {
            while (await timer.WaitForNextTickAsync(_stopping.Token).ConfigureAwait(false))
            {
                if (Environment.TickCount64 - lastAuth > AuthRefreshInterval.TotalMilliseconds)
                {
                    lastAuth = Environment.TickCount64;
                    try { await RefreshAuthAsync(_stopping.Token).ConfigureAwait(false); }
                    catch (MonClientException e) { _log.LogWarning("auth refresh failed: {Reason}", e.Message); }
                }
                await TrimSnapsAsync().ConfigureAwait(false);
                var now = DateTimeOffset.UtcNow;
                foreach (var pg in _pgs.Values)
                {
                    if (pg.Interval is not { } interval || interval.Primary != _config.Id || !interval.Active.Task.IsCompletedSuccessfully)
                        continue;
                    bool deep = now - pg.LastDeepScrub >= _config.DeepScrubInterval;
                    if (!deep && now - pg.LastScrub < _config.ScrubInterval)
                        continue;
                    var result = await ScrubAsync(pg, deep, _stopping.Token).ConfigureAwait(false);
                    if (result.Inconsistent.Count > 0)
                        _log.LogWarning("pg {Pg} {Kind}: {Count} inconsistent, {Repaired} repaired: {List}", pg.Id, deep ? "deep-scrub" : "scrub",
                            result.Inconsistent.Count, result.Repaired, string.Join("; ", result.Inconsistent));
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Drops the chunk versions only removed snapshots still saw, in every PG of a pool whose removed set grew.</summary>
    private async Task TrimSnapsAsync()
    {
        if (_map is not { } map)
            return;
        foreach (var pg in _pgs.Values)
        {
            if (map.FindPool(pg.Id.PoolId) is not { RemovedSnaps.Count: > 0 } pool || pool.RemovedSnaps.Count <= pg.TrimmedSnaps || pg.Interval is null)
                continue;
            var remaining = new List<ulong>();
            for (ulong s = 1; s <= pool.SnapSeq; s++)
                if (!pool.RemovedSnaps.Contains(s)) remaining.Add(s);
            int removed = await _store.TrimSnapsAsync(pg.Id, remaining).ConfigureAwait(false);
            pg.TrimmedSnaps = pool.RemovedSnaps.Count;
            if (removed > 0)
                _log.LogInformation("pg {Pg}: trimmed {Count} snapshot versions", pg.Id, removed);
        }
    }

    private async Task<ReadOnlyMemory<byte>> ScrubRequestAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        var r = new WireReader(payload.Span, "scrub request");
        var pgId = Wire.Pg(ref r);
        bool deep = r.Bool();
        r.End();
        if (!_pgs.TryGetValue(pgId, out var pg) || pg.Interval is not { } interval || interval.Primary != _config.Id)
            throw new InvalidOperationException($"Error EAGAIN: osd.{_config.Id} is not the primary of pg {pgId}");
        try
        {
            await interval.Active.Task.WaitAsync(ActivationWait, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is TimeoutException or TaskCanceledException)
        {
            throw new InvalidOperationException($"Error EAGAIN: pg {pgId} is {pg.State}, not active");
        }
        var result = await ScrubAsync(pg, deep, cancellationToken).ConfigureAwait(false);
        return JsonSerializer.SerializeToUtf8Bytes(result, OsdJsonContext.Default.ScrubResult);
    }

    /// <summary>
    /// Compares every acting member's copy of every object (size and version; deep: data and omap digests and the
    /// stored chunk CRCs). The authoritative copy is the primary's unless it is damaged, then the majority's among the
    /// undamaged ones; every other copy is replaced by it. Writes to the PG wait meanwhile.
    /// </summary>
    private async Task<ScrubResult> ScrubAsync(PlacementGroup pg, bool deep, CancellationToken cancellationToken)
    {
        var interval = pg.Interval!;
        await pg.Lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var maps = new Dictionary<int, ScrubMapData> { [_config.Id] = LocalScrubMap(pg.Id) };
            foreach (int osd in interval.Acting.Skip(1))
            {
                var bytes = (await _peers.RequestAsync(osd, OsdMessages.ScrubMap, EncodePg(pg.Id), interval.Token).ConfigureAwait(false)).Payload;
                maps[osd] = ScrubMapData.Decode(bytes.Span);
            }
            var names = maps.Values.SelectMany(m => m.Objects.Keys).ToHashSet(StringComparer.Ordinal);
            var inconsistent = new List<string>();
            int repaired = 0;
            foreach (var name in names.Order(StringComparer.Ordinal))
            {
                string Key(ScrubObject o) => deep ? $"{o.Size}/{o.Version}/{o.DataDigest:x8}/{o.OmapDigest:x8}" : $"{o.Size}/{o.Version}";
                bool Damaged(int osd) => deep && maps[osd].Corrupt.Contains(name);
                var copies = interval.Acting.ToDictionary(o => o, o => maps[o].Objects.GetValueOrDefault(name));
                // Authority: the primary's copy if intact, else the most common intact one.
                int? authority = copies[_config.Id] is not null && !Damaged(_config.Id) ? _config.Id
                    : copies.Where(c => c.Value is not null && !Damaged(c.Key)).GroupBy(c => Key(c.Value!)).OrderByDescending(g => g.Count()).FirstOrDefault()?.First().Key;
                if (authority is not { } good)
                {
                    inconsistent.Add($"{name}: no intact copy on any of osd {string.Join(",", interval.Acting)}");
                    continue;
                }
                string expected = Key(copies[good]!);
                var bad = copies.Where(c => c.Key != good && (c.Value is null || Damaged(c.Key) || Key(c.Value) != expected)).Select(c => c.Key).ToList();
                foreach (int osd in bad.Distinct())
                {
                    string reason = copies[osd] is null ? "missing" : Damaged(osd) ? "stored chunk fails its crc32c" : $"differs ({Key(copies[osd]!)} vs {expected})";
                    inconsistent.Add($"{name} on osd.{osd}: {reason}");
                }
                if (bad.Count > 0)
                    repaired += await RepairAsync(pg.Id, name, good, bad.Distinct().ToList(), interval.Token).ConfigureAwait(false);
            }
            var now = DateTimeOffset.UtcNow;
            pg.LastScrub = now;
            if (deep)
                pg.LastDeepScrub = now;
            return new ScrubResult(pg.Id.ToString(), deep, names.Count, inconsistent, repaired);
        }
        finally
        {
            pg.Lock.Release();
        }
    }

    /// <summary>Copies the good replica's image of the object over the bad ones (through this OSD when it is one of them).</summary>
    private async Task<int> RepairAsync(PgId pg, string name, int good, List<int> bad, CancellationToken token)
    {
        var image = good == _config.Id ? Export(pg, name)
            : DecodeImages((await _peers.RequestAsync(good, OsdMessages.PullObject, EncodeNames(pg, [name]), token).ConfigureAwait(false)).Payload.Span).Images.Single();
        int repaired = 0;
        foreach (int osd in bad)
        {
            if (osd == _config.Id)
                await _store.CommitAsync(Replace(pg, [image]), token).ConfigureAwait(false);
            else
                await _peers.RequestAsync(osd, OsdMessages.PushObjects, EncodeImages(pg, [image]), token).ConfigureAwait(false);
            repaired++;
            _log.LogWarning("pg {Pg}: repaired {Object} on osd.{Osd} from osd.{Good}", pg, name, osd, good);
        }
        return repaired;
    }

    private ScrubMapData LocalScrubMap(PgId pg)
    {
        var report = _store.DeepScrub(pg);
        return new ScrubMapData(report.Objects.ToDictionary(o => o.Name, StringComparer.Ordinal),
            report.Errors.Select(e => e.ObjectName).ToHashSet(StringComparer.Ordinal));
    }

    private ReadOnlyMemory<byte> ScrubMap(ReadOnlySpan<byte> payload) => LocalScrubMap(DecodePg(payload)).Encode();

    private sealed record ScrubMapData(Dictionary<string, ScrubObject> Objects, HashSet<string> Corrupt)
    {
        public byte[] Encode()
        {
            var w = new WireWriter();
            w.List(Objects.Values, (w, o) =>
            {
                w.String(o.Name).I64(o.Size);
                Wire.Version(w, o.Version);
                w.U32(o.DataDigest).U32(o.OmapDigest);
            });
            return w.List(Corrupt, (w, n) => w.String(n)).ToArray();
        }

        public static ScrubMapData Decode(ReadOnlySpan<byte> bytes)
        {
            var r = new WireReader(bytes, "scrub map");
            var objects = new Dictionary<string, ScrubObject>(StringComparer.Ordinal);
            int n = r.Count();
            for (int i = 0; i < n; i++)
            {
                var o = new ScrubObject(r.String(), r.I64(), Wire.Version(ref r), r.U32(), r.U32());
                objects[o.Name] = o;
            }
            var corrupt = new HashSet<string>(StringComparer.Ordinal);
            n = r.Count();
            for (int i = 0; i < n; i++) corrupt.Add(r.String());
            r.End();
            return new ScrubMapData(objects, corrupt);
        }
    }

    // ---- stats ----------------------------------------------------------------------------------------

    /// <summary>The PGs this OSD leads with their states and object counts, and its disk use.</summary>
    private byte[] StatsJson()
    {
        var pgs = new List<PgStat>();
        foreach (var pg in _pgs.Values.OrderBy(p => p.Id.PoolId).ThenBy(p => p.Id.Seed))
        {
            if (pg.Interval is not { } interval || interval.Primary != _config.Id)
                continue;
            pgs.Add(new PgStat(pg.Id.ToString(), pg.State, interval.Acting, pg.Objects, pg.Head.ToString(), pg.LastScrub, pg.LastDeepScrub));
        }
        long used = new DirectoryInfo(_store.Path).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length);
        var stats = new OsdStats(_config.Id, _map?.Epoch ?? 0, used, _store.ListPgs().Count, pgs);
        return JsonSerializer.SerializeToUtf8Bytes(stats, OsdJsonContext.Default.OsdStats);
    }
}

public sealed record PgStat(string PgId, string State, IReadOnlyList<int> Acting, long Objects, string Version, DateTimeOffset LastScrub, DateTimeOffset LastDeepScrub);

/// <summary>One OSD's report: the PGs it leads, how many PGs it stores any data of, and its disk use.</summary>
public sealed record OsdStats(int Osd, long Epoch, long UsedBytes, int StoredPgs, IReadOnlyList<PgStat> Pgs);

[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.SnakeCaseLower)]
[System.Text.Json.Serialization.JsonSerializable(typeof(ScrubResult))]
[System.Text.Json.Serialization.JsonSerializable(typeof(OsdStats))]
public sealed partial class OsdJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
