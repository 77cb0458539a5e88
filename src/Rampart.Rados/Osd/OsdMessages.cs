using Rampart.Rados.Osd.Store;
using Rampart.Rados.Placement;

namespace Rampart.Rados.Osd;

/// <summary>
/// The OSD protocol: request types on an authenticated <see cref="Messaging.Connection"/> to an OSD's
/// address. Clients send <see cref="ClientOp"/> to the PG's primary; everything else is between OSDs
/// (and <see cref="Scrub"/> / <see cref="Stats"/> from admin tools). A refused request comes back as
/// an error frame whose text starts "Error E…:" — EAGAIN means "refresh the map and resend".
/// </summary>
public static class OsdMessages
{
    public const ushort ClientOp = 0x0200;
    /// <summary>Primary → replica: apply this write with this version and log entry.</summary>
    public const ushort RepOp = 0x0201;
    /// <summary>Primary → any OSD: what do you hold of these PGs (info and log head)?</summary>
    public const ushort PgQuery = 0x0202;
    /// <summary>Log entries of a PG after a version.</summary>
    public const ushort PgLog = 0x0203;
    /// <summary>The whole stored state of one object (every version, omap), to recover from.</summary>
    public const ushort PullObject = 0x0204;
    /// <summary>Replace objects with these images (recovery, backfill, repair).</summary>
    public const ushort PushObjects = 0x0205;
    /// <summary>Record the PG's activation (info) and optionally adopt the authoritative log.</summary>
    public const ushort Activate = 0x0206;
    public const ushort Ping = 0x0207;
    /// <summary>Admin → primary: scrub a PG now; answers a report.</summary>
    public const ushort Scrub = 0x0208;
    /// <summary>Primary → replica: your digests of this PG's objects.</summary>
    public const ushort ScrubMap = 0x0209;
    /// <summary>Primary → stray: drop your copy of this PG, the acting set is clean without it.</summary>
    public const ushort RemovePg = 0x020A;
    /// <summary>Admin → OSD: PG states of the PGs it leads and its usage (JSON).</summary>
    public const ushort Stats = 0x020B;
    /// <summary>Object names of a PG on this OSD, after a name, paged (backfill source listing).</summary>
    public const ushort ListPg = 0x020C;
}

/// <summary>A client op on one object of one PG.</summary>
/// <remarks><see cref="SnapGuard"/>: for a write, the pool snap generation its snapshot context reflects (null: unguarded).</remarks>
public sealed record OpRequest(long PoolId, uint Seed, string Object, long Epoch, string ReqId, SnapContext Snaps, ulong? ReadSnap, IReadOnlyList<ObjectOp> Ops,
    ulong? SnapGuard = null)
{
    public PgId Pg => new(PoolId, Seed);

    public bool IsWrite => Ops.Any(o => o.IsWrite);

    public byte[] Encode()
    {
        var w = new WireWriter(64 + Ops.Sum(o => o.Data.Length));
        w.I64(PoolId).U32(Seed).String(Object).I64(Epoch).String(ReqId);
        WireSnaps.Write(w, Snaps);
        w.Bool(ReadSnap is not null).U64(ReadSnap ?? 0).Bool(SnapGuard is not null).U64(SnapGuard ?? 0);
        w.List(Ops, (w, o) => o.Encode(w));
        return w.ToArray();
    }

    public static OpRequest Decode(ReadOnlySpan<byte> bytes)
    {
        var r = new WireReader(bytes, "client op");
        long pool = r.I64();
        uint seed = r.U32();
        string name = r.String();
        long epoch = r.I64();
        string reqId = r.String();
        var snaps = WireSnaps.Read(ref r);
        bool hasSnap = r.Bool();
        ulong snap = r.U64();
        bool guarded = r.Bool();
        ulong guard = r.U64();
        var ops = new ObjectOp[r.Count()];
        for (int i = 0; i < ops.Length; i++) ops[i] = ObjectOp.Decode(ref r);
        r.End();
        if (ops.Length == 0)
            throw new FormatException("Error EINVAL: op with no steps");
        return new OpRequest(pool, seed, name, epoch, reqId, snaps, hasSnap ? snap : null, ops, guarded ? guard : null);
    }
}

public sealed record OpReply(long Epoch, PgVersion Version, IReadOnlyList<OpResult> Results)
{
    public byte[] Encode()
    {
        var w = new WireWriter(64 + Results.Sum(r => r.Data.Length));
        w.I64(Epoch).U32(Version.Epoch).U64(Version.Seq).List(Results, (w, r) => r.Encode(w));
        return w.ToArray();
    }

    public static OpReply Decode(ReadOnlySpan<byte> bytes)
    {
        var r = new WireReader(bytes, "op reply");
        long epoch = r.I64();
        var version = new PgVersion(r.U32(), r.U64());
        var results = new OpResult[r.Count()];
        for (int i = 0; i < results.Length; i++) results[i] = OpResult.Decode(ref r);
        r.End();
        return new OpReply(epoch, version, results);
    }
}

/// <summary>A write the primary has ordered, for a replica to apply as is.</summary>
public sealed record RepOpRequest(PgId Pg, long Epoch, PgLogEntry Entry, SnapContext Snaps, long MTimeTicks, IReadOnlyList<ObjectOp> Ops, PgInfo? NewInfo, PgVersion? TrimBelow)
{
    public byte[] Encode()
    {
        var w = new WireWriter(128 + Ops.Sum(o => o.Data.Length));
        Wire.Pg(w, Pg);
        w.I64(Epoch);
        Wire.Entry(w, Entry);
        WireSnaps.Write(w, Snaps);
        w.I64(MTimeTicks).List(Ops, (w, o) => o.Encode(w));
        w.Bool(NewInfo is not null);
        NewInfo?.Encode(w);
        w.Bool(TrimBelow is not null);
        Wire.Version(w, TrimBelow ?? default);
        return w.ToArray();
    }

    public static RepOpRequest Decode(ReadOnlySpan<byte> bytes)
    {
        var r = new WireReader(bytes, "replica op");
        var pg = Wire.Pg(ref r);
        long epoch = r.I64();
        var entry = Wire.Entry(ref r);
        var snaps = WireSnaps.Read(ref r);
        long mtime = r.Ticks();
        var ops = new ObjectOp[r.Count()];
        for (int i = 0; i < ops.Length; i++) ops[i] = ObjectOp.Decode(ref r);
        PgInfo? info = r.Bool() ? PgInfo.Decode(ref r) : null;
        bool trim = r.Bool();
        var below = Wire.Version(ref r);
        r.End();
        return new RepOpRequest(pg, epoch, entry, snaps, mtime, ops, info, trim ? below : null);
    }
}

/// <summary>
/// The stored image of one object: its metadata record and every other key under it (chunks of every
/// version, omap), keys relative to the object. No metadata means "the object does not exist".
/// </summary>
public sealed record ObjectImage(string Name, byte[]? Meta, IReadOnlyList<KeyValuePair<byte[], byte[]>> Records)
{
    internal void Encode(WireWriter w)
    {
        w.String(Name).Bool(Meta is not null).Bytes(Meta ?? []);
        w.List(Records, (w, r) => w.Bytes(r.Key).Bytes(r.Value));
    }

    internal static ObjectImage Decode(ref WireReader r)
    {
        string name = r.String();
        bool exists = r.Bool();
        var meta = r.Bytes();
        var records = new KeyValuePair<byte[], byte[]>[r.Count()];
        for (int i = 0; i < records.Length; i++) records[i] = new(r.Bytes(), r.Bytes());
        return new ObjectImage(name, exists ? meta : null, records);
    }

    public long Bytes => (Meta?.Length ?? 0) + Records.Sum(r => (long)r.Key.Length + r.Value.Length);
}

internal static class Wire
{
    public static void Pg(WireWriter w, PgId pg) => w.I64(pg.PoolId).U32(pg.Seed);

    public static PgId Pg(ref WireReader r) => new(r.I64(), r.U32());

    public static void Version(WireWriter w, PgVersion v) => w.U32(v.Epoch).U64(v.Seq);

    public static PgVersion Version(ref WireReader r) => new(r.U32(), r.U64());

    public static void Entry(WireWriter w, PgLogEntry e)
    {
        Version(w, e.Version);
        w.U8((byte)e.Op).String(e.Object).String(e.ReqId);
        Version(w, e.PriorVersion);
    }

    public static PgLogEntry Entry(ref WireReader r)
    {
        var version = Version(ref r);
        byte op = r.U8();
        if (!Enum.IsDefined((PgLogOp)op))
            throw new FormatException($"Error EINVAL: unknown PG log op {op}");
        return new(version, (PgLogOp)op, r.String(), r.String(), Version(ref r));
    }

    public static byte[] Entries(IReadOnlyCollection<PgLogEntry> entries)
    {
        var w = new WireWriter();
        w.List(entries, Entry);
        return w.ToArray();
    }

    public static PgLogEntry[] Entries(ReadOnlySpan<byte> bytes, string what)
    {
        var r = new WireReader(bytes, what);
        var entries = new PgLogEntry[r.Count()];
        for (int i = 0; i < entries.Length; i++) entries[i] = Entry(ref r);
        r.End();
        return entries;
    }
}

internal static class WireSnaps
{
    public static void Write(WireWriter w, SnapContext snaps) => w.U64(snaps.Seq).List(snaps.Snaps, (w, s) => w.U64(s));

    public static SnapContext Read(ref WireReader r)
    {
        ulong seq = r.U64();
        var snaps = new ulong[r.Count()];
        for (int i = 0; i < snaps.Length; i++) snaps[i] = r.U64();
        return seq == 0 && snaps.Length == 0 ? SnapContext.Empty : new SnapContext(seq, snaps);
    }
}
