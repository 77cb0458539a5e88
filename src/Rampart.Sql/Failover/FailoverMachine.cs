using Rampart.Sql.Config;
using Rampart.Sql.Topology;

namespace Rampart.Sql.Failover;

public enum ManagerPhase { Discovering, Monitoring, Operating }

/// <summary>An operation a leader started; a new leader finishes it (see <see cref="FailoverMachine.Adopt"/>).</summary>
public sealed record OperationInProgress(OperationKind Kind, string Old, string Candidate, bool Promoted);

/// <summary>How an operation ended, as the shell reports it back.</summary>
public sealed record OperationResult(FailoverPlan Plan, bool Succeeded, bool Promoted, string? Error, GtidSet? PromotedAt, IReadOnlyList<TimelineEntry> Timeline);

public sealed record TimelineEntry(DateTimeOffset At, string Step, double Ms, string? Error);

/// <summary>The last failover or switchover, for `rampart sql status`.</summary>
public sealed record OperationSummary(OperationKind Kind, string OldPrimary, string NewPrimary, bool Succeeded, string? Error,
    DateTimeOffset? FirstFailureAt, DateTimeOffset? DetectedAt, DateTimeOffset? WritesOpenAt, IReadOnlyList<TimelineEntry> Timeline);

/// <summary>
/// The SQL manager's decisions as a state machine: a round of checks in, actions out. Pure: no sockets, no clock
/// of its own (time comes with each round), so every rule runs on a fake clock in unit tests.
/// </summary>
public sealed class FailoverMachine(SqlConfig config)
{
    private readonly Dictionary<string, string> _heldOut = [];
    private readonly HashSet<string> _fencedWriters = [];
    private IReadOnlyList<string> _reads = [];
    private string? _routedWrites;
    private bool _suspectReported;
    private bool _noPrimaryReported;
    private FailoverPlan? _running;

    public ManagerPhase Phase { get; private set; } = ManagerPhase.Discovering;
    public string? Primary { get; private set; }

    /// <summary>Consecutive failed checks of the primary.</summary>
    public int FailedChecks { get; private set; }
    public DateTimeOffset? FirstFailureAt { get; private set; }
    public DateTimeOffset? DetectedAt { get; private set; }

    /// <summary>The new primary's GTID position when it was promoted: where its history forked from the old primary's.</summary>
    public GtidSet? PromotedAt { get; private set; }

    /// <summary>Set when the primary was declared dead and no failover has succeeded yet.</summary>
    public bool PrimaryLost { get; private set; }
    public bool SemiSyncDegraded { get; private set; }
    public int Failovers { get; private set; }
    public OperationSummary? LastOperation { get; private set; }
    public IReadOnlyDictionary<string, string> HeldOut => _heldOut;
    public IReadOnlyList<string> Reads => _reads;
    public string? RoutedWrites => _routedWrites;

    /// <summary>The plan being executed, if any.</summary>
    public FailoverPlan? Running => _running;

    /// <summary>
    /// Takes over from a previous leader (its state comes from the replicated log). An operation it left unfinished
    /// is resumed: promoted already → the candidate is the primary and the steady-state rules repoint the others and
    /// open writes once a semi-sync replica is attached; a failover not yet promoted → planned again at once (the
    /// primary was already declared dead); a switchover not yet promoted → the old primary, fenced read-only, is
    /// opened again by the same rules.
    /// </summary>
    public void Adopt(string? primary, GtidSet? promotedAt, IEnumerable<KeyValuePair<string, string>> heldOut, OperationInProgress? operation, int failovers, OperationSummary? last)
    {
        Primary = primary;
        PromotedAt = promotedAt;
        Failovers = failovers;
        LastOperation = last;
        foreach (var (k, v) in heldOut) _heldOut[k] = v;
        if (operation is { Promoted: true } done) Primary = done.Candidate;
        else if (operation is { Kind: OperationKind.Failover } failover) { Primary = failover.Old; PrimaryLost = true; }
        else if (operation is { } switchover) Primary = switchover.Old;
        Phase = Primary is null ? ManagerPhase.Discovering : ManagerPhase.Monitoring;
    }

    /// <summary>One round of checks. Returns the actions to execute now; when a failover starts, its plan (executed after them).</summary>
    public IReadOnlyList<SqlAction> OnRound(CheckRound round, out FailoverPlan? plan)
    {
        plan = null;
        if (Phase == ManagerPhase.Operating) return [];
        var actions = new List<SqlAction>();
        if (Primary is null && !Discover(round, actions)) return actions;

        var primary = round[Primary!];
        // Reachable is healthy: a stale replication config left on the primary must never look like a death.
        bool healthy = primary is { Reachable: true };
        if (healthy && !PrimaryLost)
        {
            if (FailedChecks >= config.FailureThreshold)
                actions.Add(new Alert(AlertKind.PrimarySuspect, Primary!, $"primary {Primary} answers again after {FailedChecks} failed checks: no failover"));
            FailedChecks = 0;
            FirstFailureAt = null;
            _suspectReported = false;
            Steady(round, primary!, actions);
            return actions;
        }

        if (!PrimaryLost)
        {
            FailedChecks++;
            FirstFailureAt ??= round.At;
            if (FailedChecks < config.FailureThreshold) return actions;
            var replicas = FailoverPlanner.ReplicasOf(config, round, Primary!, _heldOut.Keys.ToHashSet()).ToArray();
            bool replicasLostIt = replicas.Length > 0 && replicas.All(r => !r.Replica!.IoConnected);
            if (!replicasLostIt && FailedChecks < config.MaxFailedChecks)
            {
                if (!_suspectReported)
                    actions.Add(new Alert(AlertKind.PrimarySuspect, Primary!,
                        $"primary {Primary} failed {FailedChecks} checks ({primary?.Error}) but {replicas.Count(r => r.Replica!.IoConnected)} replica(s) still replicate from it: waiting"));
                _suspectReported = true;
                return actions;
            }
            PrimaryLost = true;
            DetectedAt = round.At;
            actions.Add(new Alert(AlertKind.PrimaryDead, Primary!, replicasLostIt
                ? $"primary {Primary} is dead: {FailedChecks} failed checks ({primary?.Error}) and all {replicas.Length} replica(s) lost it"
                : $"primary {Primary} is dead: {FailedChecks} failed checks (max_failed_checks) ({primary?.Error})"));
        }

        plan = FailoverPlanner.PlanFailover(config, round, Primary!, _heldOut.Keys.ToHashSet());
        if (plan is null)
        {
            actions.Add(new RouteWrites(null));
            actions.Add(new Alert(AlertKind.NoCandidate, Primary!, $"primary {Primary} is dead and no reachable replica can be promoted; writes stay closed"));
            return actions;
        }
        _running = plan;
        Phase = ManagerPhase.Operating;
        return actions;
    }

    /// <summary>A planned switchover, asked by an operator. Null (and why) when it cannot be done now.</summary>
    public FailoverPlan? RequestSwitchover(CheckRound round, string? target, out string? error)
    {
        if (Phase != ManagerPhase.Monitoring || Primary is null || PrimaryLost)
        {
            error = Phase == ManagerPhase.Operating ? "an operation is already running" : "no healthy primary is known yet";
            return null;
        }
        var plan = FailoverPlanner.PlanSwitchover(config, round, Primary, target, _heldOut.Keys.ToHashSet(), out error);
        if (plan is not null)
        {
            _running = plan;
            Phase = ManagerPhase.Operating;
        }
        return plan;
    }

    /// <summary>The shell finished executing a plan.</summary>
    public void OnOperationFinished(OperationResult result)
    {
        _running = null;
        Phase = ManagerPhase.Monitoring;
        var plan = result.Plan;
        var writesOpen = result.Timeline.LastOrDefault(t => t.Step.StartsWith("OpenWrites", StringComparison.Ordinal) && t.Error is null)?.At;
        LastOperation = new OperationSummary(plan.Kind, plan.OldPrimary, plan.Candidate, result.Succeeded, result.Error,
            plan.Kind == OperationKind.Failover ? FirstFailureAt : null, plan.Kind == OperationKind.Failover ? DetectedAt : null, writesOpen, result.Timeline);
        if (result.Promoted)
        {
            // Once promoted the candidate is the primary even if a later step failed: the others follow it, and the
            // steady-state rule opens its writes as soon as a semi-sync replica is attached.
            Primary = plan.Candidate;
            PromotedAt = result.PromotedAt;
            PrimaryLost = false;
            FailedChecks = 0;
            FirstFailureAt = null;
            SemiSyncDegraded = false;
            if (result.Succeeded) Failovers++;
            _routedWrites = result.Succeeded ? plan.Candidate : null;
        }
        else if (plan.Kind == OperationKind.Switchover)
        {
            _routedWrites = plan.OldPrimary;
        }
    }

    private bool Discover(CheckRound round, List<SqlAction> actions)
    {
        var up = round.Nodes.Values.Where(o => o.Reachable).ToArray();
        // The node every reachable replica follows; else the only writable node replicating from nobody; else the only one replicating from nobody.
        var followed = up.Where(o => o.Replica is not null).Select(o => config.NodeAt(o.Replica!.MasterHost, o.Replica.MasterPort)?.Name).Distinct().ToArray();
        string? found = followed.Length == 1 && followed[0] is { } f ? f
            : up.Where(o => o.Replica is null && !o.ReadOnly).Select(o => o.Node).ToArray() is [var w] ? w
            : up.Where(o => o.Replica is null).Select(o => o.Node).ToArray() is [var r] ? r : null;
        if (found is null)
        {
            if (!_noPrimaryReported)
                actions.Add(new Alert(AlertKind.NoPrimary, "", $"no primary found among {up.Length} reachable node(s); waiting"));
            _noPrimaryReported = true;
            return false;
        }
        Primary = found;
        Phase = ManagerPhase.Monitoring;
        actions.Add(new Alert(AlertKind.PrimaryDiscovered, found, $"primary is {found}"));
        return true;
    }

    /// <summary>Healthy primary: semi-sync watch, open writes if closed, fence stray writers, rejoin or hold out the others, read routes.</summary>
    private void Steady(CheckRound round, NodeObservation primary, List<SqlAction> actions)
    {
        string p = primary.Node;
        var address = config.Node(p).Address;
        var heldOut = _heldOut.Keys.ToHashSet();
        var replicas = FailoverPlanner.ReplicasOf(config, round, p, heldOut).ToArray();

        if (primary.SemiSyncMasterActive == SemiSyncDegraded)
        {
            SemiSyncDegraded = !primary.SemiSyncMasterActive;
            actions.Add(SemiSyncDegraded
                ? new Alert(AlertKind.SemiSyncDegraded, p, $"semi-sync is OFF on primary {p} ({primary.SemiSyncClients} semi-sync replica(s)): commits are acknowledged without a replica copy; a failover now could lose them")
                : new Alert(AlertKind.SemiSyncRestored, p, $"semi-sync is back on primary {p} ({primary.SemiSyncClients} semi-sync replica(s))"));
        }

        if (primary.ReadOnly && (!config.RequireSemiSync || (primary.SemiSyncClients > 0 && primary.SemiSyncMasterActive)))
        {
            actions.Add(new OpenWrites(p));
            actions.Add(new RouteWrites(p));
            _routedWrites = p;
        }
        else if (!primary.ReadOnly && _routedWrites != p)
        {
            actions.Add(new RouteWrites(p));
            _routedWrites = p;
        }

        foreach (var o in round.Nodes.Values.Where(o => o.Reachable && o.Node != p))
        {
            if (!o.ReadOnly)
            {
                // A second writable node (a restarted old primary): fence it before anything else.
                if (_fencedWriters.Add(o.Node))
                    actions.Add(new Alert(AlertKind.SecondWriter, o.Node, $"{o.Node} is writable but {p} is the primary: fencing it"));
                actions.Add(new Fence(o.Node, KillConnections: true));
                continue;
            }
            _fencedWriters.Remove(o.Node);
            if (_heldOut.ContainsKey(o.Node)) continue;
            if (o.Replica is { } r && r.Master == address)
            {
                // MariaDB refuses a replica whose GTID is not in the primary's binlog (error 1236): errant.
                if (r.LastIoErrno == 1236)
                    HoldOut(o.Node, $"primary {p} refused its position: {r.LastIoError}", actions);
                continue;
            }
            var mine = o.Replica is null ? o.CurrentPos.Union(o.BinlogPos) : o.CurrentPos;
            if (FailoverPlanner.ErrantReason(mine, primary.CurrentPos.Union(primary.BinlogPos), PromotedAt) is { } why)
                HoldOut(o.Node, why, actions);
            else
                actions.Add(new Repoint(o.Node, p, FormerPrimary: o.Replica is null));
        }

        var reads = replicas.Where(r => r.Replica!.IoConnected && r.Replica.SqlRunning).Select(r => r.Node).Order(StringComparer.Ordinal).ToArray();
        if (!reads.SequenceEqual(_reads))
        {
            _reads = reads;
            actions.Add(new RouteReads(reads));
        }
    }

    private void HoldOut(string node, string why, List<SqlAction> actions)
    {
        _heldOut[node] = why;
        actions.Add(new Alert(AlertKind.ErrantTransactions, node, $"{node} held out (errant transactions, not merged): {why}"));
    }

    /// <summary>Operator cleared a held-out node (after repairing it): it is considered for rejoin again.</summary>
    public bool Release(string node) => _heldOut.Remove(node);
}
