using Microsoft.Extensions.Logging;
using Rampart.Common.Threading;
using Rampart.Rados.Client;
using Rampart.Rados.Messaging;
using Rampart.Rados.Mon;
using Rampart.Rados.Osd.Store;
using Rampart.Rados.Placement;

namespace Rampart.Rados.Osd;

public sealed partial class OsdDaemon
{
    private const int ListPage = 1000;

    /// <summary>
    /// Primary of a new interval: asks every up OSD what it holds of the PG, picks the authoritative copy
    /// (<see cref="Peering.Choose"/>), makes this OSD's copy match it, activates the PG on the acting set,
    /// and then brings the other members up to date while serving I/O. Cancelled by the next interval.
    /// </summary>
    private async Task PeerAsync(PlacementGroup pg, PgInterval interval)
    {
        var token = interval.Token;
        try
        {
            var map = _map!;
            await PeersSplitAsync(map, interval.Pool, token).ConfigureAwait(false);
            var answers = await QueryAllAsync(pg.Id, map, token).ConfigureAwait(false);
            var lastActive = await _lastActive.RunAsync(pg.Id, token).ConfigureAwait(false);
            // A down OSD may hold the only copy — unless it went down before the pool existed.
            var mayHold = map.RawSet(pg.Id).Where(o => map.FindOsd(o) is { Up: false } d && (d.DownAt == 0 || d.DownAt >= interval.Pool.CreatedEpoch)).ToArray();
            var choice = Peering.Choose(_config.Id, answers, mayHold, lastActive?.Acting);
            if (choice.Verdict != PeeringVerdict.Activate)
            {
                pg.State = choice.Verdict == PeeringVerdict.Down ? "down" : "incomplete";
                _log.LogWarning("pg {Pg} is {State}: waiting for osd {Prior} (last active set)", pg.Id, pg.State, string.Join(",", choice.PriorSet));
                return;
            }
            if (interval.Acting.Length < interval.Pool.MinSize)
            {
                pg.State = "undersized+degraded+peered";
                _log.LogWarning("pg {Pg}: {Count} OSDs up, pool min_size {Min}: no I/O until more return", pg.Id, interval.Acting.Length, interval.Pool.MinSize);
                return;
            }
            var self = answers.FirstOrDefault(a => a.Osd == _config.Id) ?? new PeerState(_config.Id, PgInfo.Empty, PgVersion.Zero);
            var authority = choice.Authority ?? self;
            // An equal head means an equal copy (a version is assigned once): nothing to catch up, and our own log
            // (whose tail may differ from the authority's) is the one to plan with.
            bool equal = self.Info.Complete && self.Head == authority.Head;
            if (authority.Osd != _config.Id && !equal)
                await CatchUpFromAsync(pg, self, authority, token).ConfigureAwait(false);
            var tail = equal ? self.Info.Tail : authority.Info.Tail;
            var head = _store.LogHead(pg.Id)?.Version ?? PgVersion.Zero;

            // What each other member needs, then activate everywhere: complete members as they are, the others marked
            // incomplete until recovered (so they can never be chosen authoritative on their own).
            var authLog = _store.ReadLog(pg.Id, tail);
            var plans = new Dictionary<int, RecoveryPlan>();
            foreach (int osd in interval.Acting.Skip(1))
            {
                var peer = answers.FirstOrDefault(a => a.Osd == osd) ?? new PeerState(osd, PgInfo.Empty, PgVersion.Zero);
                var peerLog = Peering.NeedsPeerLog(peer, head, tail, authLog) ? await PgLogAsync(osd, pg.Id, tail, token).ConfigureAwait(false) : [];
                plans[osd] = Peering.PlanRecovery(peer, head, tail, authLog, peerLog);
            }
            var info = new PgInfo(interval.Epoch, interval.Acting, tail, Complete: true);
            await _store.CommitAsync(new StoreTransaction(pg.Id, head).SetPgInfo(info.Encode()), token).ConfigureAwait(false);
            await Task.WhenAll(plans.Select(p => _peers.RequestAsync(p.Key, OsdMessages.Activate,
                new ActivateRequest(pg.Id, info with { Complete = p.Value.Kind == RecoveryKind.None }, p.Value.Kind == RecoveryKind.Backfill, null, PgVersion.Zero).Encode(), token))).ConfigureAwait(false);

            // The monitors record the interval as active before it serves anything (and refuse if it is already stale).
            if (!await _activate.RunAsync(new PgActivation(pg.Id.PoolId, pg.Id.Seed, interval.Epoch, interval.Acting), token).ConfigureAwait(false))
            {
                _log.LogInformation("pg {Pg}: [{Acting}] is no longer its acting set at the monitors: waiting for the next map", pg.Id, string.Join(",", interval.Acting));
                return;
            }
            await pg.Lock.WaitAsync(token).ConfigureAwait(false);
            try
            {
                pg.Info = info;
                pg.Head = head;
                pg.Tail = tail;
                pg.Objects = AllObjects(pg.Id).LongCount();
                pg.Dups.Clear();
                foreach (var e in authLog)
                {
                    if (e.ReqId.Length > 0)
                        pg.Dups[e.ReqId] = e.Version;
                }
                var pending = plans.Where(p => p.Value.Kind != RecoveryKind.None).ToList();
                pg.State = Peering.ActiveState(interval.Acting.Length, interval.Pool.Size, pending.Count, pending.Any(p => p.Value.Kind == RecoveryKind.Backfill));
                interval.Active.TrySetResult();
            }
            finally
            {
                pg.Lock.Release();
            }
            _log.LogDebug("pg {Pg} active at epoch {Epoch} on [{Acting}], head {Head}", pg.Id, interval.Epoch, string.Join(",", interval.Acting), head);

            var waiting = plans.Where(p => p.Value.Kind != RecoveryKind.None).ToList();
            while (waiting.Count > 0)
            {
                var (osd, plan) = waiting[0];
                await RecoverPeerAsync(pg, interval, osd, plan, info).ConfigureAwait(false);
                waiting.RemoveAt(0);
                pg.State = Peering.ActiveState(interval.Acting.Length, interval.Pool.Size, waiting.Count, waiting.Any(p => p.Value.Kind == RecoveryKind.Backfill));
            }
            pg.State = Peering.ActiveState(interval.Acting.Length, interval.Pool.Size, 0, false);
            // Copies outside the acting set are strays now that the acting set is complete.
            if (interval.Acting.Length >= interval.Pool.Size)
            {
                foreach (var stray in answers.Where(a => !interval.Acting.Contains(a.Osd)))
                    await _peers.RequestAsync(stray.Osd, OsdMessages.RemovePg, EncodePg(pg.Id), token).ConfigureAwait(false);
            }
        }
        catch (Exception) when (token.IsCancellationRequested)
        {
            // A newer interval took over.
        }
        catch (Exception e)
        {
            // Usually a peer that is about to be marked down (the next map supersedes this); otherwise try again.
            _log.LogWarning("pg {Pg}: peering at epoch {Epoch} stopped: {Reason}; retrying", pg.Id, interval.Epoch, e.Message);
            Repeer(pg, interval, TimeSpan.FromSeconds(1));
        }
    }

    /// <summary>
    /// A returning OSD copies what it missed from each PG's acting primary while the cluster still counts it down
    /// (its PGs serve I/O without it), so the peering its boot starts has only the last moment's writes to move:
    /// I/O stalls for that peering, not for the whole catch-up. Log recovery only (a copy too far behind is
    /// backfilled after the boot, with I/O served meanwhile); best effort, bounded by <see cref="PreBootCatchUpLimit"/>.
    /// Safe: until it boots and peers again, this OSD is in no acting set, and its copy never becomes authoritative
    /// (it is not in the last active set).
    /// </summary>
    private async Task CatchUpBeforeBootAsync(CancellationToken cancellationToken)
    {
        if (_map is not { } map)
            return;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(PreBootCatchUpLimit);
        int caughtUp = 0;
        using var parallel = new SemaphoreSlim(8);
        var work = _store.ListPgs().Where(pg => map.FindPool(pg.PoolId) is { } pool && pg.Seed < pool.PgNum).Select(async pgId =>
        {
            await parallel.WaitAsync(limit.Token).ConfigureAwait(false);
            try
            {
                if (map.Primary(pgId) is not int primary || primary == _config.Id
                    || await QueryAsync(_config.Id, pgId, limit.Token).ConfigureAwait(false) is not { } self
                    || await QueryAsync(primary, pgId, limit.Token).ConfigureAwait(false) is not { } authority || !self.Info.Complete
                    || self.Head >= authority.Head || self.Head <= authority.Info.Tail)
                    return;
                await CatchUpFromAsync(_pgs.GetOrAdd(pgId, id => new PlacementGroup(id)), self, authority, limit.Token).ConfigureAwait(false);
                Interlocked.Increment(ref caughtUp);
            }
            catch (Exception e) when (e is PeerUnavailableException or RemoteRequestException or FormatException)
            {
                // the peering after the boot does it
            }
            finally
            {
                parallel.Release();
            }
        });
        try
        {
            await Task.WhenAll(work).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            _log.LogWarning("catching up before boot: stopped after {Limit} s; the peering after the boot does the rest", PreBootCatchUpLimit.TotalSeconds);
        }
        if (caughtUp > 0)
            _log.LogInformation("caught up {Count} pgs before boot in {Ms} ms", caughtUp, clock.ElapsedMilliseconds);
    }

    private static readonly TimeSpan PreBootCatchUpLimit = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Waits until every up OSD has applied the pool's last split (an OSD answers pings with its epoch only once its
    /// store is split): a peer that has not split yet would describe a child PG as empty and later move objects into it.
    /// </summary>
    private async Task PeersSplitAsync(Maps.ClusterMap map, Maps.PoolInfo pool, CancellationToken token)
    {
        if (pool.SplitEpoch == 0)
            return;
        var deadline = Environment.TickCount64 + 10_000;
        foreach (var osd in map.Osds.Values.Where(o => o.Up && o.Id != _config.Id))
        {
            while (!_splitSeen.TryGetValue(osd.Id, out long seen) || seen < pool.SplitEpoch)
            {
                if (Environment.TickCount64 > deadline)
                    throw new TimeoutException($"osd.{osd.Id} has not applied epoch {pool.SplitEpoch} (pool '{pool.Name}' split) within 10 s");
                try
                {
                    var reply = await _peers.RequestAsync(osd.Id, OsdMessages.Ping, Mon.MonMessages.EncodeEpoch(map.Epoch), token).ConfigureAwait(false);
                    long epoch = Mon.MonMessages.DecodeEpoch(reply.Payload.Span);
                    _splitSeen.AddOrUpdate(osd.Id, epoch, (_, old) => Math.Max(old, epoch));
                    if (epoch < pool.SplitEpoch)
                        await Task.Delay(50, token).ConfigureAwait(false);
                }
                catch (PeerUnavailableException)
                {
                    break; // down in a moment; the next map peers without it
                }
            }
        }
    }

    /// <summary>The newest epoch each peer answered a ping with during peering.</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<int, long> _splitSeen = new();

    private readonly Batcher<PgId, PgActivation?> _lastActive;
    private readonly Batcher<PgActivation, bool> _activate;

    /// <summary>The monitors' last activation record of each PG (one command for every PG peering meanwhile).</summary>
    private async Task<IReadOnlyList<PgActivation?>> ReadActivationsAsync(IReadOnlyList<PgId> pgs, CancellationToken token)
    {
        var result = await _mon.CommandAsync(new PgActivations([.. pgs.Distinct().Select(p => new PgRef(p.PoolId, p.Seed))]), token).ConfigureAwait(false);
        if (!result.Success)
            throw new MonClientException(result.Message);
        var found = MonitorState.DecodeActivations(result.Output ?? "[]").ToDictionary(a => a.Pg);
        return [.. pgs.Select(p => found.GetValueOrDefault(p))];
    }

    /// <summary>Records activations at the monitors (one command for every PG activating meanwhile); false: refused as stale.</summary>
    private async Task<IReadOnlyList<bool>> RecordActivationsAsync(IReadOnlyList<PgActivation> records, CancellationToken token)
    {
        var result = await _mon.CommandAsync(new PgActivate(_config.Id, [.. records]), token).ConfigureAwait(false);
        if (!result.Success || result.Output is not { } verdicts || verdicts.Length != records.Count)
            throw new MonClientException($"recording pg activations: {result.Message}");
        return [.. verdicts.Select(v => v == '1')];
    }

    /// <summary>Every up OSD's state of the PG (those holding nothing are left out).</summary>
    private async Task<List<PeerState>> QueryAllAsync(PgId pg, Maps.ClusterMap map, CancellationToken token)
    {
        var queries = map.Osds.Values.Where(o => o.Up).Select(async o =>
        {
            try
            {
                return await QueryAsync(o.Id, pg, token).ConfigureAwait(false);
            }
            catch (PeerUnavailableException)
            {
                return null; // down in a moment; the next map re-peers without it
            }
        });
        return [.. (await Task.WhenAll(queries).ConfigureAwait(false)).OfType<PeerState>()];
    }

    /// <summary>What <paramref name="osd"/> (this one or a peer) holds of the PG; null when it holds nothing.</summary>
    private async Task<PeerState?> QueryAsync(int osd, PgId pg, CancellationToken token)
    {
        var payload = EncodePg(pg);
        var bytes = osd == _config.Id ? QueryPg(payload) : (await _peers.RequestAsync(osd, OsdMessages.PgQuery, payload, token).ConfigureAwait(false)).Payload;
        return DecodePeerState(osd, bytes.Span);
    }

    /// <summary>Makes this OSD's copy equal to the authority's: the objects it lacks or holds divergently, or all of them.</summary>
    private async Task CatchUpFromAsync(PlacementGroup pg, PeerState self, PeerState authority, CancellationToken token)
    {
        var tail = authority.Info.Tail;
        // Usually our log is a prefix of the authority's: then its entries from our head on are all we need.
        IReadOnlyList<PgLogEntry> authLog = [];
        if (self.Info.Complete && self.Head > tail)
        {
            authLog = await PgLogAsync(authority.Osd, pg.Id, new PgVersion(self.Head.Epoch, self.Head.Seq - 1), token).ConfigureAwait(false);
            if (authLog.Count == 0 || authLog[0].Version != self.Head)
                authLog = [];
        }
        if (authLog.Count == 0)
            authLog = await PgLogAsync(authority.Osd, pg.Id, tail, token).ConfigureAwait(false);
        var plan = Peering.PlanRecovery(self, authority.Head, tail, authLog,
            Peering.NeedsPeerLog(self, authority.Head, tail, authLog) ? _store.ReadLog(pg.Id, tail) : []);
        _log.LogInformation("pg {Pg}: catching up from osd.{Osd} ({Kind}, {Count} objects)", pg.Id, authority.Osd, plan.Kind,
            plan.Kind == RecoveryKind.Backfill ? "all" : plan.Objects.Count.ToString(System.Globalization.CultureInfo.InvariantCulture));
        IEnumerable<string> names = plan.Objects;
        if (plan.Kind == RecoveryKind.Backfill)
        {
            await _store.RemovePgAsync(pg.Id).ConfigureAwait(false);
            names = await ListRemoteAsync(authority.Osd, pg.Id, token).ConfigureAwait(false);
        }
        foreach (var batch in names.Chunk(RecoveryBatch))
        {
            var (_, images) = DecodeImages((await _peers.RequestAsync(authority.Osd, OsdMessages.PullObject, EncodeNames(pg.Id, batch), token).ConfigureAwait(false)).Payload.Span);
            await _store.CommitAsync(Replace(pg.Id, images), token).ConfigureAwait(false);
        }
        await _store.CommitAsync(new StoreTransaction(pg.Id, authority.Head)
            .ResetLog([.. authLog.Where(e => e.Version > plan.Since)], plan.Since).SetPgInfo(authority.Info.Encode()), token).ConfigureAwait(false);
    }

    private async Task<IReadOnlyList<PgLogEntry>> PgLogAsync(int osd, PgId pg, PgVersion after, CancellationToken token) =>
        Wire.Entries((await _peers.RequestAsync(osd, OsdMessages.PgLog, EncodeVersionRequest(pg, after), token).ConfigureAwait(false)).Payload.Span, "pg log");

    private async Task<List<string>> ListRemoteAsync(int osd, PgId pg, CancellationToken token)
    {
        var names = new List<string>();
        string? after = null;
        while (true)
        {
            var w = new WireWriter();
            Wire.Pg(w, pg);
            var bytes = (await _peers.RequestAsync(osd, OsdMessages.ListPg, w.NullableString(after).ToArray(), token).ConfigureAwait(false)).Payload;
            var r = new WireReader(bytes.Span, "pg listing");
            int n = r.Count();
            for (int i = 0; i < n; i++) names.Add(r.String());
            bool more = r.Bool();
            if (!more || n == 0)
                return names;
            after = names[^1];
        }
    }

    /// <summary>
    /// Brings one acting member up to date while the PG serves I/O: each object is copied under the PG lock, so
    /// it is ordered with the writes (which the member receives too). Then it adopts the log and is complete.
    /// </summary>
    private async Task RecoverPeerAsync(PlacementGroup pg, PgInterval interval, int osd, RecoveryPlan plan, PgInfo info)
    {
        var token = interval.Token;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        int copied = 0;
        IEnumerable<string> names = plan.Kind == RecoveryKind.Backfill ? AllObjects(pg.Id) : plan.Objects;
        foreach (var batch in Batches(pg.Id, names))
        {
            await pg.Lock.WaitAsync(token).ConfigureAwait(false);
            try
            {
                var images = batch.Select(name => Export(pg.Id, name)).ToList();
                await _peers.RequestAsync(osd, OsdMessages.PushObjects, EncodeImages(pg.Id, images), token).ConfigureAwait(false);
                copied += images.Count;
            }
            finally
            {
                pg.Lock.Release();
            }
        }
        await pg.Lock.WaitAsync(token).ConfigureAwait(false);
        try
        {
            // The member keeps its log up to the last version it shares with ours (none after a backfill) and takes the rest.
            var since = plan.Kind == RecoveryKind.Log ? plan.Since : PgVersion.Zero;
            var log = _store.ReadLog(pg.Id, since > pg.Tail ? since : pg.Tail);
            await _peers.RequestAsync(osd, OsdMessages.Activate, new ActivateRequest(pg.Id, info with { Tail = pg.Tail }, false, log, since).Encode(), token).ConfigureAwait(false);
        }
        finally
        {
            pg.Lock.Release();
        }
        _log.LogInformation("pg {Pg}: osd.{Osd} recovered ({Kind}, {Count} objects, {Ms} ms)", pg.Id, osd, plan.Kind, copied, clock.ElapsedMilliseconds);
    }

    /// <summary>Objects copied per recovery message: one synced batch on the receiver.</summary>
    private const int RecoveryBatch = 64;

    /// <summary>Groups of names of at most <see cref="RecoveryBatch"/> objects or about 8 MiB of stored data.</summary>
    private IEnumerable<List<string>> Batches(PgId pg, IEnumerable<string> names)
    {
        var batch = new List<string>();
        long bytes = 0;
        foreach (var name in names)
        {
            batch.Add(name);
            bytes += _store.Stat(pg, name)?.Size ?? 0;
            if (batch.Count >= RecoveryBatch || bytes >= 8 << 20)
            {
                yield return batch;
                batch = [];
                bytes = 0;
            }
        }
        if (batch.Count > 0)
            yield return batch;
    }

    private ObjectImage Export(PgId pg, string name)
    {
        var (meta, records) = _store.ExportObject(pg, name);
        return new ObjectImage(name, meta, records);
    }

    private static StoreTransaction Replace(PgId pg, IEnumerable<ObjectImage> images)
    {
        var tx = new StoreTransaction(pg, PgVersion.Zero);
        foreach (var image in images)
            tx.ReplaceObject(image.Name, image.Meta, image.Records);
        return tx;
    }

    /// <summary>Object names of a local PG, page by page (the listing may change between pages; recovery copies what exists).</summary>
    private IEnumerable<string> AllObjects(PgId pg)
    {
        string? after = null;
        while (true)
        {
            var page = _store.ListObjects(pg, after, ListPage);
            foreach (var name in page.Names)
                yield return name;
            if (page.Next is null)
                yield break;
            after = page.Next;
        }
    }

    // ---- the peer side -----------------------------------------------------------------------------

    private ReadOnlyMemory<byte> QueryPg(ReadOnlySpan<byte> payload)
    {
        var pg = DecodePg(payload);
        var w = new WireWriter();
        if (_store.GetPgInfo(pg) is not { } raw)
            return w.Bool(false).ToArray();
        w.Bool(true);
        PgInfo.Decode(raw).Encode(w);
        Wire.Version(w, _store.LogHead(pg)?.Version ?? PgVersion.Zero);
        return w.ToArray();
    }

    private static PeerState? DecodePeerState(int osd, ReadOnlySpan<byte> bytes)
    {
        var r = new WireReader(bytes, "pg query reply");
        if (!r.Bool())
            return null;
        var info = PgInfo.Decode(ref r);
        var head = Wire.Version(ref r);
        r.End();
        return new PeerState(osd, info, head);
    }

    private ReadOnlyMemory<byte> ReadLog(ReadOnlySpan<byte> payload)
    {
        var r = new WireReader(payload, "pg log request");
        var pg = Wire.Pg(ref r);
        var after = Wire.Version(ref r);
        r.End();
        return Wire.Entries(_store.ReadLog(pg, after));
    }

    private ReadOnlyMemory<byte> PullObject(ReadOnlySpan<byte> payload)
    {
        var r = new WireReader(payload, "pull request");
        var pg = Wire.Pg(ref r);
        var names = new string[r.Count()];
        for (int i = 0; i < names.Length; i++) names[i] = r.String();
        r.End();
        return EncodeImages(pg, names.Select(name => Export(pg, name)).ToList());
    }

    private async Task<ReadOnlyMemory<byte>> PushObjectsAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        var (pg, images) = DecodeImages(payload.Span);
        await _store.CommitAsync(Replace(pg, images), cancellationToken).ConfigureAwait(false);
        return ReadOnlyMemory<byte>.Empty;
    }

    private static byte[] EncodeNames(PgId pg, IReadOnlyCollection<string> names)
    {
        var w = new WireWriter();
        Wire.Pg(w, pg);
        return w.List(names, (w, n) => w.String(n)).ToArray();
    }

    private static byte[] EncodeImages(PgId pg, IReadOnlyCollection<ObjectImage> images)
    {
        var w = new WireWriter(64 + (int)Math.Min(int.MaxValue / 2, images.Sum(i => i.Bytes)));
        Wire.Pg(w, pg);
        return w.List(images, (w, i) => i.Encode(w)).ToArray();
    }

    private static (PgId Pg, ObjectImage[] Images) DecodeImages(ReadOnlySpan<byte> bytes)
    {
        var r = new WireReader(bytes, "object images");
        var pg = Wire.Pg(ref r);
        var images = new ObjectImage[r.Count()];
        for (int i = 0; i < images.Length; i++) images[i] = ObjectImage.Decode(ref r);
        r.End();
        return (pg, images);
    }

    private async Task<ReadOnlyMemory<byte>> ActivateAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        var request = ActivateRequest.Decode(payload.Span);
        if (request.Wipe)
            await _store.RemovePgAsync(request.Pg).ConfigureAwait(false);
        var tx = new StoreTransaction(request.Pg, PgVersion.Zero).SetPgInfo(request.Info.Encode());
        if (request.Log is { } log)
            tx.ResetLog(log, request.LogAfter);
        await _store.CommitAsync(tx, cancellationToken).ConfigureAwait(false);
        return ReadOnlyMemory<byte>.Empty;
    }

    private ReadOnlyMemory<byte> ListPg(ReadOnlySpan<byte> payload)
    {
        var r = new WireReader(payload, "pg listing request");
        var pg = Wire.Pg(ref r);
        var after = r.NullableString();
        r.End();
        var page = _store.ListObjects(pg, after, ListPage);
        return new WireWriter().List(page.Names, (w, n) => w.String(n)).Bool(page.Next is not null).ToArray();
    }

    private async Task<ReadOnlyMemory<byte>> RemoveStrayAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        var pg = DecodePg(payload.Span);
        // Never drop a copy this OSD serves in its own (possibly newer) map.
        if (_pgs.TryGetValue(pg, out var placement) && placement.Interval is { } interval && interval.Acting.Contains(_config.Id))
            return ReadOnlyMemory<byte>.Empty;
        await _store.RemovePgAsync(pg).WaitAsync(cancellationToken).ConfigureAwait(false);
        _log.LogInformation("pg {Pg}: stray copy removed", pg);
        return ReadOnlyMemory<byte>.Empty;
    }

    private static byte[] EncodePg(PgId pg)
    {
        var w = new WireWriter();
        Wire.Pg(w, pg);
        return w.ToArray();
    }

    private static PgId DecodePg(ReadOnlySpan<byte> bytes)
    {
        var r = new WireReader(bytes, "pg id");
        var pg = Wire.Pg(ref r);
        r.End();
        return pg;
    }

    private static byte[] EncodeVersionRequest(PgId pg, PgVersion after)
    {
        var w = new WireWriter();
        Wire.Pg(w, pg);
        Wire.Version(w, after);
        return w.ToArray();
    }
}

/// <summary>Primary → member: record this info; wipe the PG first (backfill); adopt this log after <paramref name="LogAfter"/> (recovery done).</summary>
internal sealed record ActivateRequest(PgId Pg, PgInfo Info, bool Wipe, IReadOnlyList<PgLogEntry>? Log, PgVersion LogAfter)
{
    public byte[] Encode()
    {
        var w = new WireWriter();
        Wire.Pg(w, Pg);
        Info.Encode(w);
        w.Bool(Wipe).Bool(Log is not null);
        if (Log is not null)
            w.List(Log, Wire.Entry);
        Wire.Version(w, LogAfter);
        return w.ToArray();
    }

    public static ActivateRequest Decode(ReadOnlySpan<byte> bytes)
    {
        var r = new WireReader(bytes, "activate");
        var pg = Wire.Pg(ref r);
        var info = PgInfo.Decode(ref r);
        bool wipe = r.Bool();
        PgLogEntry[]? log = null;
        if (r.Bool())
        {
            log = new PgLogEntry[r.Count()];
            for (int i = 0; i < log.Length; i++) log[i] = Wire.Entry(ref r);
        }
        var after = Wire.Version(ref r);
        r.End();
        return new ActivateRequest(pg, info, wipe, log, after);
    }
}
