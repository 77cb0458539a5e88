using Rampart.Rados.Osd.Store;

namespace Rampart.Rados.Osd;

/// <summary>
/// What an OSD records about one PG, besides its log: when the PG last went active and with which acting
/// set (the set that may have acknowledged writes since), where its log starts, and whether this copy is
/// complete (false while it is being recovered or backfilled — such a copy cannot be authoritative).
/// </summary>
public sealed record PgInfo(long LastEpochStarted, IReadOnlyList<int> ActingAtStart, PgVersion Tail, bool Complete)
{
    public static readonly PgInfo Empty = new(0, [], PgVersion.Zero, true);

    internal void Encode(WireWriter w)
    {
        w.I64(LastEpochStarted).List(ActingAtStart, (w, o) => w.I32(o));
        Wire.Version(w, Tail);
        w.Bool(Complete);
    }

    internal static PgInfo Decode(ref WireReader r)
    {
        long les = r.I64();
        var acting = new int[r.Count()];
        for (int i = 0; i < acting.Length; i++) acting[i] = r.I32();
        return new PgInfo(les, acting, Wire.Version(ref r), r.Bool());
    }

    public byte[] Encode()
    {
        var w = new WireWriter();
        Encode(w);
        return w.ToArray();
    }

    public static PgInfo Decode(ReadOnlySpan<byte> bytes)
    {
        var r = new WireReader(bytes, "pg info");
        var info = Decode(ref r);
        r.End();
        return info;
    }
}

/// <summary>What one OSD holds of a PG: its info and the newest version in its log.</summary>
public sealed record PeerState(int Osd, PgInfo Info, PgVersion Head);

public enum PeeringVerdict
{
    /// <summary>Activate with <see cref="PeeringResult.Authority"/>'s log (null: a new, empty PG).</summary>
    Activate,
    /// <summary>No complete member of the last active set is reachable: a write acknowledged by that set may exist only there. Wait.</summary>
    Down,
    /// <summary>Members of the last active set answered, but none holds a complete copy. Wait.</summary>
    Incomplete,
}

public sealed record PeeringResult(PeeringVerdict Verdict, PeerState? Authority, IReadOnlyList<int> PriorSet);

/// <summary>How a peer is brought up to date with the authoritative copy.</summary>
public enum RecoveryKind
{
    None,
    /// <summary>Replace the objects named by the log entries it lacks or holds divergently.</summary>
    Log,
    /// <summary>Its log does not reach back far enough (or it was mid-backfill): copy every object.</summary>
    Backfill,
}

/// <param name="Since">The newest version the peer's log shares with the authority's: its log after that is replaced
/// (<see cref="PgVersion.Zero"/>: all of it).</param>
public sealed record RecoveryPlan(RecoveryKind Kind, IReadOnlySet<string> Objects, PgVersion Since)
{
    public static readonly RecoveryPlan Everything = new(RecoveryKind.Backfill, new HashSet<string>(), PgVersion.Zero);
}

/// <summary>
/// Peering decisions, pure so they are tested without processes (Ceph's PeeringState, reduced to what
/// Rampart's write rule needs: a write is acknowledged only when every acting OSD has it durable).
/// </summary>
public static class Peering
{
    /// <summary>
    /// Picks the authoritative copy among the OSDs that answered. The last active set is the
    /// <see cref="PgInfo.ActingAtStart"/> with the newest <see cref="PgInfo.LastEpochStarted"/>; only its
    /// complete members may be authoritative (anything newer elsewhere was never acknowledged), and
    /// the newest log among them wins, ties to <paramref name="self"/>.
    /// <paramref name="mayHoldData"/>: OSDs that are down but in — when nobody answered with a copy,
    /// one of them may hold the only one, so the PG waits (down) instead of starting empty.
    /// </summary>
    /// <param name="lastActive">The acting set of the last interval the monitors recorded as active (null: none recorded, as
    /// for a PG that never went active). It supersedes what the answers say: the OSDs that answer may all have missed it.</param>
    public static PeeringResult Choose(int self, IReadOnlyList<PeerState> answers, IReadOnlyCollection<int> mayHoldData, IReadOnlyList<int>? lastActive = null)
    {
        if (lastActive is { Count: > 0 })
            return ChooseAmong(self, answers, lastActive);
        var started = answers.Where(a => a.Info.LastEpochStarted > 0).ToList();
        if (started.Count == 0)
        {
            // Copies without an activation record (a write never completed anywhere) are not evidence of data.
            var holder = answers.Where(a => a.Info.Complete).OrderByDescending(a => a.Head).ThenBy(a => a.Osd != self).FirstOrDefault();
            if (holder is { Head.Seq: > 0 })
                return new PeeringResult(PeeringVerdict.Activate, holder, []);
            return mayHoldData.Count > 0
                ? new PeeringResult(PeeringVerdict.Down, null, [.. mayHoldData])
                : new PeeringResult(PeeringVerdict.Activate, null, []);
        }
        return ChooseAmong(self, answers, started.MaxBy(a => a.Info.LastEpochStarted)!.Info.ActingAtStart);
    }

    /// <summary>The newest complete copy among the members of <paramref name="prior"/> that answered, ties to <paramref name="self"/>.</summary>
    private static PeeringResult ChooseAmong(int self, IReadOnlyList<PeerState> answers, IReadOnlyList<int> prior)
    {
        var candidates = answers.Where(a => prior.Contains(a.Osd)).ToList();
        var authority = candidates.Where(a => a.Info.Complete)
            .OrderByDescending(a => a.Head).ThenBy(a => a.Osd != self).FirstOrDefault();
        if (authority is not null)
            return new PeeringResult(PeeringVerdict.Activate, authority, prior);
        return new PeeringResult(candidates.Count > 0 ? PeeringVerdict.Incomplete : PeeringVerdict.Down, null, prior);
    }

    /// <summary>
    /// Whether <see cref="PlanRecovery"/> needs the peer's log: only when the peer's newest entry is not in the
    /// authority's log (<paramref name="authLog"/>, the entries after the authority's tail), i.e. the peer may hold
    /// divergent entries. Otherwise its log is a prefix of the authority's (a version is assigned once, by one primary).
    /// </summary>
    public static bool NeedsPeerLog(PeerState peer, PgVersion authHead, PgVersion authTail, IReadOnlyList<PgLogEntry> authLog) =>
        peer.Info.Complete && peer.Head != authHead && peer.Head > authTail && !authLog.Any(e => e.Version == peer.Head);

    /// <summary>
    /// What <paramref name="peer"/> needs to match the authority, whose log is <paramref name="authLog"/>
    /// (oldest first; all of it after <paramref name="authTail"/>, or at least every entry after the peer's head).
    /// <paramref name="peerLog"/> is the peer's log after <paramref name="authTail"/>, needed only when
    /// <see cref="NeedsPeerLog"/> says so. Objects touched after the last version both logs share are replaced:
    /// the ones it missed and the ones it wrote divergently (never acknowledged; rolled back to the authority's state).
    /// </summary>
    public static RecoveryPlan PlanRecovery(PeerState peer, PgVersion authHead, PgVersion authTail,
        IReadOnlyList<PgLogEntry> authLog, IReadOnlyList<PgLogEntry> peerLog)
    {
        if (!peer.Info.Complete)
            return RecoveryPlan.Everything;
        if (peer.Head == authHead)
            return new RecoveryPlan(RecoveryKind.None, new HashSet<string>(), authHead);
        if (peer.Head < authTail)
            return RecoveryPlan.Everything;
        var authVersions = authLog.Select(e => e.Version).ToHashSet();
        var common = authTail;
        if (authVersions.Contains(peer.Head))
            common = peer.Head;
        foreach (var e in peerLog)
        {
            if (authVersions.Contains(e.Version) && e.Version > common)
                common = e.Version;
        }
        var objects = new HashSet<string>(StringComparer.Ordinal);
        foreach (var e in authLog)
        {
            if (e.Version > common)
                objects.Add(e.Object);
        }
        foreach (var e in peerLog)
        {
            if (e.Version > common)
                objects.Add(e.Object);
        }
        return new RecoveryPlan(RecoveryKind.Log, objects, common);
    }

    /// <summary>Ceph's PG state names for an active PG: "active+clean", "active+undersized+degraded", …</summary>
    public static string ActiveState(int acting, int size, int recovering, bool backfilling)
    {
        var parts = new List<string> { "active" };
        if (recovering > 0)
            parts.Add(backfilling ? "backfilling" : "recovering");
        if (acting < size)
            parts.Add("undersized");
        if (acting < size || recovering > 0)
            parts.Add("degraded");
        if (parts.Count == 1)
            parts.Add("clean");
        return string.Join('+', parts);
    }
}
