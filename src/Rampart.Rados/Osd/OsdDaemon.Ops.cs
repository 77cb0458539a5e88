using Microsoft.Extensions.Logging;
using Rampart.Rados.Auth;
using Rampart.Rados.Messaging;
using Rampart.Rados.Osd.Store;
using Rampart.Rados.Placement;

namespace Rampart.Rados.Osd;

public sealed partial class OsdDaemon
{
    /// <summary>Log entries kept per PG before trimming (Ceph's osd_min_pg_log_entries ballpark), and the slack before a trim.</summary>
    internal const int LogKeep = 2000;
    private const int LogSlack = 500;
    private static readonly TimeSpan ActivationWait = TimeSpan.FromSeconds(10);

    private async Task<ReadOnlyMemory<byte>> ClientOpAsync(Connection connection, OpRequest request, CancellationToken cancellationToken)
    {
        var map = await MapAtLeastAsync(request.Epoch, cancellationToken).ConfigureAwait(false);
        var pool = map.FindPool(request.PoolId) ?? throw new KeyNotFoundException($"Error ENOENT: pool {request.PoolId} does not exist");
        bool write = request.IsWrite;
        RequireCaps(connection, write ? CapOp.Write : CapOp.Read, pool.Name);
        if (request.Seed >= pool.PgNum)
            throw new ArgumentException($"Error EINVAL: pg {request.Pg} does not exist (pool '{pool.Name}' has pg_num {pool.PgNum})");
        if (request.Ops is not [{ Code: OpCode.List }] && map.Locate(pool, request.Object) is var home && home != request.Pg)
            throw new InvalidOperationException($"Error EAGAIN: object '{request.Object}' is in pg {home} at epoch {map.Epoch} (pool pg_num {pool.PgNum})");
        if (write && request.ReadSnap is not null)
            throw new ArgumentException("Error EROFS: cannot write at a snapshot");
        if (write && request.SnapGuard < pool.SnapGeneration)
            throw new InvalidOperationException(
                $"Error EOLDSNAPC: pool '{pool.Name}' is at snap generation {pool.SnapGeneration} (epoch {map.Epoch}), the write's snap context at {request.SnapGuard}");
        if (!_pgs.TryGetValue(request.Pg, out var pg) || pg.Interval is not { } interval || interval.Primary != _config.Id)
            throw new InvalidOperationException($"Error EAGAIN: osd.{_config.Id} is not the primary of pg {request.Pg} at epoch {map.Epoch}");

        try
        {
            await interval.Active.Task.WaitAsync(ActivationWait, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is TimeoutException or TaskCanceledException)
        {
            throw new InvalidOperationException($"Error EAGAIN: pg {request.Pg} is {pg.State} on osd.{_config.Id}");
        }
        await pg.Lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!ReferenceEquals(pg.Interval, interval))
                throw new InvalidOperationException($"Error EAGAIN: pg {request.Pg} changed interval");
            PgVersion version = pg.Head;
            if (write)
                version = await WriteAsync(pg, interval, request).ConfigureAwait(false);
            var results = request.Ops.Select(op => Execute(request.Pg, request.Object, op, request.ReadSnap)).ToArray();
            return new OpReply(map.Epoch, version, results).Encode();
        }
        finally
        {
            pg.Lock.Release();
        }
    }

    /// <summary>Orders the write (next version, log entry), applies it here and on every replica, and returns once all have it durable.
    /// A resend of a request already in the log is answered with its version, not applied again. Caller holds the PG lock.</summary>
    private async Task<PgVersion> WriteAsync(PlacementGroup pg, PgInterval interval, OpRequest request)
    {
        if (request.ReqId.Length > 0 && pg.Dups.TryGetValue(request.ReqId, out var done))
            return done;
        var existing = _store.HeadStat(pg.Id, request.Object);
        if (existing is null && request.Ops.Any(o => o.Code == OpCode.Remove))
            throw new KeyNotFoundException($"Error ENOENT: object '{request.Object}' does not exist");
        if (existing is not null && request.Ops.Any(o => o.Code == OpCode.Create && o.Length != 0))
            throw new InvalidOperationException($"Error EEXIST: object '{request.Object}' exists");
        var version = new PgVersion((uint)interval.Epoch, pg.Head.Seq + 1);
        bool removes = request.Ops[^1].Code == OpCode.Remove;
        var kind = removes ? PgLogOp.Delete : PgLogOp.Modify;
        var prior = existing?.Version ?? PgVersion.Zero;
        var entry = new PgLogEntry(version, kind, request.Object, request.ReqId, prior);
        long mtime = DateTimeOffset.UtcNow.UtcTicks;

        PgInfo? newInfo = null;
        PgVersion? trimBelow = null;
        if (version.Seq - pg.Tail.Seq > LogKeep + LogSlack)
        {
            var trimmed = _store.ReadLog(pg.Id, pg.Tail, (int)(version.Seq - pg.Tail.Seq - LogKeep));
            if (trimmed.Count > 0)
            {
                newInfo = pg.Info with { Tail = trimmed[^1].Version };
                trimBelow = Successor(trimmed[^1].Version);
            }
        }
        var repOp = new RepOpRequest(pg.Id, interval.Epoch, entry, request.Snaps, mtime, request.Ops, newInfo, trimBelow);
        var local = _store.CommitAsync(Transaction(repOp));
        var payload = repOp.Encode();
        var replicas = interval.Acting.Skip(1).Select(osd => _peers.RequestAsync(osd, OsdMessages.RepOp, payload, interval.Token)).ToList();
        try
        {
            await local.ConfigureAwait(false);
            await Task.WhenAll(replicas).ConfigureAwait(false);
        }
        catch (Exception e) when (e is PeerUnavailableException or OperationCanceledException or RemoteRequestException or MisplacedObjectException)
        {
            // The write may now be on some members only: the PG must re-peer before anything else is ordered.
            _log.LogWarning("pg {Pg}: write {Version} not replicated everywhere: {Reason}", pg.Id, version, e.Message);
            Repeer(pg, interval, TimeSpan.FromMilliseconds(200));
            throw new InvalidOperationException($"Error EAGAIN: pg {pg.Id}: a replica did not take write {version}: {e.Message}");
        }
        pg.Head = version;
        pg.Objects += removes ? -1 : existing is null ? 1 : 0;
        if (newInfo is not null)
        {
            pg.Info = newInfo;
            pg.Tail = newInfo.Tail;
        }
        if (request.ReqId.Length > 0)
            pg.Dups[request.ReqId] = version;
        if (pg.Dups.Count > LogKeep + LogSlack)
            pg.Dups.Clear(); // the log still has them; a resend that old is long timed out
        return version;
    }

    /// <summary>Starts the interval over (same acting set): peering settles what a failed write left on some members only.
    /// If a member really died, the next map supersedes this.</summary>
    private void Repeer(PlacementGroup pg, PgInterval interval, TimeSpan after)
    {
        if (!ReferenceEquals(pg.Interval, interval) || _stopping.IsCancellationRequested)
            return;
        var again = interval.Renew();
        pg.StartInterval(again);
        _ = Task.Run(async () =>
        {
            try { await Task.Delay(after, again.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) { return; }
            await PeerAsync(pg, again).ConfigureAwait(false);
        });
    }

    private static PgVersion Successor(PgVersion v) => new(v.Epoch, v.Seq + 1);

    /// <summary>The store transaction of a write, the same on the primary and every replica.</summary>
    private static StoreTransaction Transaction(RepOpRequest op)
    {
        var tx = new StoreTransaction(op.Pg, op.Entry.Version, op.Snaps, new DateTimeOffset(op.MTimeTicks, TimeSpan.Zero));
        string name = op.Entry.Object;
        foreach (var step in op.Ops)
        {
            switch (step.Code)
            {
                case OpCode.Write: tx.Write(name, step.Offset, step.Data); break;
                case OpCode.WriteFull: tx.WriteFull(name, step.Data); break;
                case OpCode.Truncate: tx.Truncate(name, step.Length); break;
                case OpCode.Remove: tx.Remove(name); break;
                case OpCode.Create: tx.Touch(name); break;
                case OpCode.OmapSet: tx.OmapSet(name, step.Pairs); break;
                case OpCode.OmapRemove: tx.OmapRemove(name, step.Keys); break;
                case OpCode.OmapClear: tx.OmapClear(name); break;
            }
        }
        tx.AppendLog(op.Entry);
        if (op.TrimBelow is { } below)
            tx.TrimLog(below);
        if (op.NewInfo is { } info)
            tx.SetPgInfo(info.Encode());
        return tx;
    }

    /// <summary>The read side of a step (writes answer empty: their effect is the reply itself).</summary>
    private OpResult Execute(PgId pg, string name, ObjectOp op, ulong? snap)
    {
        try
        {
            switch (op.Code)
            {
                case OpCode.Stat:
                    return new OpResult { Stat = _store.Stat(pg, name, snap) ?? throw new ObjectNotFoundException(pg, name, snap) };
                case OpCode.Read:
                    return new OpResult { Data = _store.Read(pg, name, op.Offset, (int)Math.Min(op.Length, 64 << 20), snap) };
                case OpCode.OmapGet:
                    return new OpResult { Pairs = [.. _store.OmapGet(pg, name, op.Keys)] };
                case OpCode.OmapList:
                    {
                        var page = _store.OmapList(pg, name, op.After, (int)Math.Clamp(op.Length, 1, 100_000));
                        return new OpResult { Pairs = page.Entries, More = page.More };
                    }
                case OpCode.Diff:
                    {
                        var (stat, extents) = _store.Diff(pg, name, (ulong)op.Offset, snap);
                        return new OpResult { Stat = stat, Extents = extents };
                    }
                case OpCode.List:
                    {
                        var page = _store.ListObjects(pg, op.After, (int)Math.Clamp(op.Length, 1, 100_000));
                        return new OpResult { Names = page.Names, More = page.Next is not null };
                    }
                default:
                    return OpResult.Empty;
            }
        }
        catch (ObjectNotFoundException e)
        {
            throw new KeyNotFoundException($"Error ENOENT: {e.Message}");
        }
        catch (ChunkCorruptException e)
        {
            _log.LogError("read of {Object} in pg {Pg}: {Reason}; a scrub will repair it", name, pg, e.Message);
            if (_pgs.TryGetValue(pg, out var placement))
                placement.LastDeepScrub = DateTimeOffset.MinValue;
            throw new IOException($"Error EIO: {e.Message}");
        }
    }

    /// <summary>A replica applies the primary's write. Refused when this OSD's newer map names another primary for the PG
    /// (the sender was deposed). Epochs alone cannot decide: two OSDs may first see the same interval at different epochs.</summary>
    private async Task<ReadOnlyMemory<byte>> RepOpAsync(Connection connection, RepOpRequest request, CancellationToken cancellationToken)
    {
        if (_map is { } map && map.Epoch > request.Epoch && _pgs.TryGetValue(request.Pg, out var pg)
            && pg.Interval is { } interval && $"osd.{interval.Primary}" != connection.Session.Entity.ToString())
            throw new InvalidOperationException($"Error ESTALE: pg {request.Pg} is led by osd.{interval.Primary} at epoch {map.Epoch}");
        await _store.CommitAsync(Transaction(request), cancellationToken).ConfigureAwait(false);
        return ReadOnlyMemory<byte>.Empty;
    }
}
