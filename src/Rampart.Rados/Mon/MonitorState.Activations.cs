using System.Collections.Immutable;
using System.Text.Json;
using Rampart.Rados.Maps;
using Rampart.Rados.Placement;

namespace Rampart.Rados.Mon;

/// <summary>
/// The last interval in which a PG went active: its first epoch and acting set (primary first). Every write
/// acknowledged since is on every member of <see cref="Acting"/>, so peering must hear from one of them — even when
/// none of the OSDs that answer took part in that interval (Ceph's past intervals, kept by the monitors instead of
/// being rebuilt from map history).
/// </summary>
public sealed record PgActivation(long Pool, uint Seed, long Epoch, int[] Acting)
{
    public PgId Pg => new(Pool, Seed);

    public bool SameAs(PgActivation other) =>
        Pool == other.Pool && Seed == other.Seed && Epoch == other.Epoch && Acting.AsSpan().SequenceEqual(other.Acting);
}

/// <summary>A PG, as commands name it.</summary>
public sealed record PgRef(long Pool, uint Seed);

/// <summary>
/// A primary is about to serve I/O in new intervals. Each record is kept only when its acting set is the PG's up set
/// in the current map and led by <paramref name="Osd"/> — a primary deposed meanwhile is refused and never serves.
/// Output: one '1' (recorded) or '0' (refused) per record.
/// </summary>
public sealed record PgActivate(int Osd, PgActivation[] Pgs) : MonCommand;

/// <summary>The last activation of each PG that has one (read in Raft order, so never older than a recorded one).
/// Output: a JSON array of <see cref="PgActivation"/>.</summary>
public sealed record PgActivations(PgRef[] Pgs) : MonCommand;

/// <summary>`osd lost N --yes-i-really-mean-it`: a down OSD will never return. PGs that wait for it as a member of their
/// last active set stop waiting for it (with no member left, they activate from the newest copy there is — what it
/// alone held is lost). Bumps the epoch so that waiting PGs peer again.</summary>
public sealed record OsdLost(int Id, bool YesIReallyMeanIt) : MonCommand;

public sealed partial class MonitorState
{
    public ImmutableDictionary<PgId, PgActivation> Activations { get; }

    private Outcome OsdLostCmd(OsdLost c)
    {
        if (Map.FindOsd(c.Id) is not { } osd)
            return Refuse("ENOENT", $"osd.{c.Id} does not exist");
        if (osd.Up)
            return Refuse("EBUSY", $"osd.{c.Id} is not down");
        if (!c.YesIReallyMeanIt)
            return Refuse("EPERM", "are you SURE?  this might mean real, permanent data loss.  pass --yes-i-really-mean-it if you really do.");
        var next = Activations.ToBuilder();
        int changed = 0;
        foreach (var (pg, a) in Activations.Where(kv => kv.Value.Acting.Contains(c.Id)))
        {
            changed++;
            int[] rest = [.. a.Acting.Where(o => o != c.Id)];
            if (rest.Length == 0)
                next.Remove(pg);
            else
                next[pg] = a with { Acting = rest };
        }
        return new Outcome(MonResult.Ok($"marked osd lost in epoch {Map.Epoch + 1} ({changed} pgs no longer wait for it)"), Map, Activations: next.ToImmutable());
    }

    private Outcome PgActivateCmd(PgActivate c)
    {
        var next = Activations.ToBuilder();
        var verdicts = new char[c.Pgs.Length];
        for (int i = 0; i < c.Pgs.Length; i++)
        {
            var a = c.Pgs[i];
            bool current = Map.FindPool(a.Pool) is { } pool && a.Seed < pool.PgNum && a.Acting is [var primary, ..] && primary == c.Osd
                && a.Epoch <= Map.Epoch && Map.UpSet(a.Pg).AsSpan().SequenceEqual(a.Acting);
            if (current)
                next[a.Pg] = a;
            verdicts[i] = current ? '1' : '0';
        }
        return new Outcome(MonResult.Ok($"osd.{c.Osd}: {verdicts.Count(v => v == '1')} of {c.Pgs.Length} pg activations recorded", new string(verdicts)),
            Activations: next.ToImmutable());
    }

    private Outcome PgActivationsCmd(PgActivations c)
    {
        var found = c.Pgs.Select(p => Activations.GetValueOrDefault(new PgId(p.Pool, p.Seed))).OfType<PgActivation>().ToArray();
        return Unchanged($"{found.Length} pg activations", JsonSerializer.Serialize(found, MonJsonContext.Default.PgActivationArray));
    }

    public static PgActivation[] DecodeActivations(string json) =>
        JsonSerializer.Deserialize(json, MonJsonContext.Default.PgActivationArray) ?? [];

    /// <summary>Records that follow a pool change: a deleted pool's go, and a split PG's children start from their parent's.</summary>
    private ImmutableDictionary<PgId, PgActivation> ActivationsAfter(PoolInfo? before, PoolInfo? after)
    {
        if (before is null)
            return Activations;
        if (after is null)
            return Activations.RemoveRange(Activations.Keys.Where(pg => pg.PoolId == before.Id));
        if (after.PgNum <= before.PgNum)
            return Activations;
        var next = Activations.ToBuilder();
        for (uint seed = before.PgNum; seed < after.PgNum; seed++)
        {
            var child = new PgId(before.Id, seed);
            if (Activations.TryGetValue(ObjectLocator.Parent(child, before.PgNum), out var parent))
                next[child] = parent with { Seed = seed };
        }
        return next.ToImmutable();
    }
}
