using Rampart.Sql.Config;
using Rampart.Sql.Topology;

namespace Rampart.Sql.Failover;

public enum OperationKind { Failover, Switchover }

/// <summary>An ordered list of actions; <see cref="Rollback"/> runs if a critical action fails before <see cref="Candidate"/> is promoted.</summary>
public sealed record FailoverPlan(OperationKind Kind, string OldPrimary, string Candidate, IReadOnlyList<SqlAction> Actions, IReadOnlyList<SqlAction> Rollback);

/// <summary>Pure planning: which node to promote and in which order to act. No I/O.</summary>
public static class FailoverPlanner
{
    /// <summary>
    /// The replica to promote: the one whose received GTID position contains the most others (the most advanced),
    /// ties broken by configured priority then name. never_promote and held-out nodes are not eligible.
    /// </summary>
    public static NodeObservation? ChooseCandidate(SqlConfig config, CheckRound round, string oldPrimary, IReadOnlySet<string> heldOut, string? required = null)
    {
        var replicas = ReplicasOf(config, round, oldPrimary, heldOut).ToArray();
        return replicas
            .Where(r => !config.Node(r.Node).NeverPromote && (required is null || r.Node == required))
            .OrderByDescending(r => replicas.Count(o => r.ReceivedPos.Contains(o.ReceivedPos)))
            .ThenByDescending(r => r.ReceivedPos.Weight)
            .ThenByDescending(r => config.Node(r.Node).Priority)
            .ThenBy(r => r.Node, StringComparer.Ordinal)
            .FirstOrDefault();
    }

    /// <summary>Reachable nodes replicating from <paramref name="primary"/> (SQL thread not broken), not held out.</summary>
    public static IEnumerable<NodeObservation> ReplicasOf(SqlConfig config, CheckRound round, string primary, IReadOnlySet<string> heldOut)
    {
        string address = config.Node(primary).Address;
        return round.Nodes.Values.Where(o => o.Reachable && o.Node != primary && !heldOut.Contains(o.Node)
            && o.Replica is { } r && r.Master == address);
    }

    /// <summary>
    /// Failover from a dead primary. Writes are closed first; the candidate applies its relay log and is promoted;
    /// the others follow it; writes open only once a semi-sync replica is attached; then the old primary is fenced.
    /// </summary>
    public static FailoverPlan? PlanFailover(SqlConfig config, CheckRound round, string oldPrimary, IReadOnlySet<string> heldOut)
    {
        var candidate = ChooseCandidate(config, round, oldPrimary, heldOut);
        if (candidate is null) return null;
        string c = candidate.Node;
        var others = ReplicasOf(config, round, oldPrimary, heldOut).Where(r => r.Node != c).ToArray();
        var actions = new List<SqlAction>
        {
            new RouteWrites(null),
            new StopIoThreads([c, .. others.Select(o => o.Node)]),
            new RunHook(HookPhase.Pre, oldPrimary, c),
        };

        // A never_promote replica may hold acknowledged commits the candidate lacks: the candidate copies them first.
        var ahead = others.Where(o => !candidate.ReceivedPos.Contains(o.ReceivedPos))
            .OrderByDescending(o => others.Count(x => o.ReceivedPos.Contains(x.ReceivedPos))).ThenByDescending(o => o.ReceivedPos.Weight).FirstOrDefault();
        if (ahead is not null)
        {
            actions.Add(new WaitRelayApplied(ahead.Node));
            actions.Add(new WaitRelayApplied(c));
            actions.Add(new Repoint(c, ahead.Node, FormerPrimary: false, Required: true));
            actions.Add(new WaitCaughtUp(c, ahead.Node));
        }
        else
        {
            actions.Add(new WaitRelayApplied(c));
        }
        actions.Add(new Promote(c));
        actions.AddRange(others.Select(o => new Repoint(o.Node, c, FormerPrimary: false)));
        AddOpening(config, actions, c);
        actions.Add(new Fence(oldPrimary, KillConnections: true));
        actions.Add(new RunHook(HookPhase.Post, oldPrimary, c));
        return new FailoverPlan(OperationKind.Failover, oldPrimary, c, actions, []);
    }

    /// <summary>
    /// Planned switchover: the old primary is made read-only and emptied of clients first, so its final GTID
    /// position is fixed; the target waits for exactly that position before promotion: nothing is lost.
    /// </summary>
    public static FailoverPlan? PlanSwitchover(SqlConfig config, CheckRound round, string primary, string? target, IReadOnlySet<string> heldOut, out string? error)
    {
        error = null;
        if (target is not null && config.Nodes.All(n => n.Name != target)) { error = $"no node '{target}' in the conf"; return null; }
        if (target == primary) { error = $"{target} is already the primary"; return null; }
        if (target is not null && config.Node(target).NeverPromote) { error = $"{target} is never_promote"; return null; }
        if (round[primary] is not { Reachable: true }) { error = $"primary {primary} is not reachable; failover, not switchover, handles that"; return null; }
        var candidate = ChooseCandidate(config, round, primary, heldOut, target);
        if (candidate is null)
        {
            error = target is null ? "no replica can be promoted" : $"{target} is not a reachable replica of {primary}";
            return null;
        }
        if (candidate.Replica is { SqlRunning: false } or { IoConnected: false })
        {
            error = $"{candidate.Node}'s replication is not running ({candidate.Replica.LastIoError}{candidate.Replica.LastSqlError})";
            return null;
        }
        string c = candidate.Node;
        var actions = new List<SqlAction>
        {
            new RunHook(HookPhase.Pre, primary, c),
            new RouteWrites(null),
            new Fence(primary, KillConnections: true, Required: true),
            new WaitCaughtUp(c, primary),
            new Promote(c),
        };
        actions.AddRange(ReplicasOf(config, round, primary, heldOut).Where(r => r.Node != c).Select(r => new Repoint(r.Node, c, FormerPrimary: false)));
        actions.Add(new Repoint(primary, c, FormerPrimary: true));
        AddOpening(config, actions, c);
        actions.Add(new RunHook(HookPhase.Post, primary, c));
        return new FailoverPlan(OperationKind.Switchover, primary, c, actions, [new OpenWrites(primary), new RouteWrites(primary)]);
    }

    private static void AddOpening(SqlConfig config, List<SqlAction> actions, string c)
    {
        if (config.RequireSemiSync) actions.Add(new WaitSemiSyncReplica(c));
        actions.Add(new OpenWrites(c));
        actions.Add(new RouteWrites(c));
    }

    /// <summary>
    /// Null when <paramref name="node"/>'s transactions are all in the primary's history, else why not.
    /// Per domain: the same GTID; or a sequence at or before the fork point <paramref name="promotedAt"/> (the history
    /// both shared); or one the primary itself wrote later. Anything else exists only on the node: errant.
    /// Without a known fork point only sequence numbers are compared (MariaDB's own check at START SLAVE backs this up).
    /// </summary>
    public static string? ErrantReason(GtidSet node, GtidSet primary, GtidSet? promotedAt)
    {
        foreach (var g in node.Gtids)
        {
            if (primary[g.Domain] is not { } p) return $"domain {g.Domain} ({g}) is unknown to the primary";
            if (g == p) continue;
            bool inHistory = g.Seq <= p.Seq && (g.ServerId == p.ServerId || promotedAt is null || (promotedAt[g.Domain] is { } f && g.Seq <= f.Seq));
            if (!inHistory)
                return promotedAt?[g.Domain] is { } fork
                    ? $"{g} is past the promotion point {fork} and not in the primary's history (primary at {p})"
                    : $"{g} is not in the primary's history (primary at {p})";
        }
        return null;
    }
}
