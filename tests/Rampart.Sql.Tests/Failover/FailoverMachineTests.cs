using Rampart.Sql.Config;
using Rampart.Sql.Failover;
using Rampart.Sql.Topology;

namespace Rampart.Sql.Tests.Failover;

/// <summary>The manager's rules on a fake clock: rounds of observations in, actions out.</summary>
public class FailoverMachineTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static SqlConfig Config(bool n3NeverPromote = false, int threshold = 2, int max = 10, int n2Priority = 100) => new()
    {
        Path = "rampart.conf",
        Nodes =
        [
            new("n1", "127.0.0.1", 3311, 100, false),
            new("n2", "127.0.0.1", 3312, n2Priority, false),
            new("n3", "127.0.0.1", 3313, 100, n3NeverPromote),
        ],
        Managers = [],
        User = "rampart", Password = "", ReplUser = "repl", ReplPassword = "",
        FailureThreshold = threshold,
        MaxFailedChecks = max,
    };

    private static NodeObservation Primary(string node = "n1", string pos = "0-1-100", bool readOnly = false, bool semi = true, int clients = 2) => new()
    {
        Node = node, Reachable = true, ReadOnly = readOnly, CurrentPos = GtidSet.Parse(pos), BinlogPos = GtidSet.Parse(pos),
        SemiSyncMasterEnabled = true, SemiSyncMasterActive = semi, SemiSyncClients = clients,
    };

    private static NodeObservation Replica(string node, string io = "Yes", string applied = "0-1-100", string received = "0-1-100", int masterPort = 3311, int errno = 0) => new()
    {
        Node = node, Reachable = true, ReadOnly = true, CurrentPos = GtidSet.Parse(applied), SlavePos = GtidSet.Parse(applied),
        Replica = new ReplicaStatus { MasterHost = "127.0.0.1", MasterPort = masterPort, IoRunning = io, SqlRunning = true, IoPos = GtidSet.Parse(received), LastIoErrno = errno, LastIoError = errno == 0 ? "" : "not in binlog" },
    };

    private static NodeObservation Down(string node) => NodeObservation.Down(node, "connection refused");

    private static CheckRound Round(double seconds, params NodeObservation[] nodes) =>
        new(T0.AddSeconds(seconds), nodes.ToDictionary(n => n.Node));

    private static (FailoverMachine Machine, double T) Steady(SqlConfig config)
    {
        var m = new FailoverMachine(config);
        var actions = m.OnRound(Round(0, Primary(), Replica("n2"), Replica("n3")), out var plan);
        Assert.Null(plan);
        Assert.Equal("n1", m.Primary);
        Assert.Contains(new RouteWrites("n1"), actions);
        return (m, 0);
    }

    [Fact]
    public void Discovery_FindsThePrimaryTheReplicasFollow()
    {
        var (m, _) = Steady(Config());
        Assert.Equal(ManagerPhase.Monitoring, m.Phase);
        Assert.Equal(["n2", "n3"], m.Reads);
    }

    [Fact]
    public void Blip_ShorterThanThreshold_DoesNothing()
    {
        var (m, _) = Steady(Config(threshold: 3));
        // Two failed checks (below 3), replicas even lost it: still nothing.
        for (int i = 1; i <= 2; i++)
        {
            var actions = m.OnRound(Round(i * 0.5, Down("n1"), Replica("n2", io: "Connecting"), Replica("n3", io: "Connecting")), out var plan);
            Assert.Null(plan);
            Assert.DoesNotContain(actions, a => a is RouteWrites);
        }
        m.OnRound(Round(1.5, Primary(), Replica("n2"), Replica("n3")), out var after);
        Assert.Null(after);
        Assert.Equal(0, m.FailedChecks);
        Assert.Equal("n1", m.Primary);
    }

    [Fact]
    public void ManagerCannotReachPrimary_ButReplicasStillReplicate_NoFailoverUntilMaxFailedChecks()
    {
        var (m, _) = Steady(Config(threshold: 2, max: 6));
        FailoverPlan? plan = null;
        int round = 0;
        while (plan is null && round < 20)
        {
            round++;
            var actions = m.OnRound(Round(round * 0.5, Down("n1"), Replica("n2"), Replica("n3")), out plan);
            if (round == 2) Assert.Contains(actions, a => a is Alert { Kind: AlertKind.PrimarySuspect });
        }
        Assert.Equal(6, round);
        Assert.NotNull(plan);
    }

    [Fact]
    public void PrimaryDead_WhenUnreachable_AndReplicasLostIt_AtThreshold()
    {
        var (m, _) = Steady(Config(threshold: 2));
        m.OnRound(Round(0.5, Down("n1"), Replica("n2", io: "Connecting"), Replica("n3", io: "Connecting")), out var first);
        Assert.Null(first);
        var actions = m.OnRound(Round(1.0, Down("n1"), Replica("n2", io: "Connecting"), Replica("n3", io: "Connecting")), out var plan);
        Assert.NotNull(plan);
        Assert.Contains(actions, a => a is Alert { Kind: AlertKind.PrimaryDead });
        Assert.Equal(T0.AddSeconds(0.5), m.FirstFailureAt);
        Assert.Equal(T0.AddSeconds(1.0), m.DetectedAt);
        Assert.Equal(ManagerPhase.Operating, m.Phase);
    }

    [Fact]
    public void OneReplicaStillConnected_IsNotEnoughEvidence()
    {
        var (m, _) = Steady(Config(threshold: 2, max: 10));
        for (int i = 1; i <= 5; i++)
        {
            m.OnRound(Round(i * 0.5, Down("n1"), Replica("n2", io: "Connecting"), Replica("n3", io: "Yes")), out var plan);
            Assert.Null(plan);
        }
    }

    [Fact]
    public void Failover_ActionOrder_IsWaitPromoteRepointSemiSyncOpenFenceHook()
    {
        var (m, _) = Steady(Config());
        var n2 = Replica("n2", io: "Connecting", applied: "0-1-98", received: "0-1-100");
        var n3 = Replica("n3", io: "Connecting", applied: "0-1-99", received: "0-1-99");
        m.OnRound(Round(0.5, Down("n1"), n2, n3), out _);
        m.OnRound(Round(1.0, Down("n1"), n2, n3), out var plan);
        Assert.NotNull(plan);
        Assert.Equal("n2", plan.Candidate);
        Assert.Equal(
            [
                new RouteWrites(null),
                new StopIoThreads(["n2", "n3"]),
                new RunHook(HookPhase.Pre, "n1", "n2"),
                new WaitRelayApplied("n2"),
                new Promote("n2"),
                new Repoint("n3", "n2", FormerPrimary: false),
                new WaitSemiSyncReplica("n2"),
                new OpenWrites("n2"),
                new RouteWrites("n2"),
                new Fence("n1", KillConnections: true),
                new RunHook(HookPhase.Post, "n1", "n2"),
            ],
            plan.Actions);
    }

    [Fact]
    public void Candidate_TiesBrokenByPriority()
    {
        var (m, _) = Steady(Config(n2Priority: 50));
        m.OnRound(Round(0.5, Down("n1"), Replica("n2", io: "No"), Replica("n3", io: "No")), out _);
        m.OnRound(Round(1.0, Down("n1"), Replica("n2", io: "No"), Replica("n3", io: "No")), out var plan);
        Assert.Equal("n3", plan!.Candidate);
    }

    [Fact]
    public void Candidate_NeverPromote_IsSkipped_ButItsCommitsAreCopiedFirst()
    {
        var (m, _) = Steady(Config(n3NeverPromote: true));
        var n2 = Replica("n2", io: "Connecting", applied: "0-1-99", received: "0-1-99");
        var n3 = Replica("n3", io: "Connecting", received: "0-1-100");
        m.OnRound(Round(0.5, Down("n1"), n2, n3), out _);
        m.OnRound(Round(1.0, Down("n1"), n2, n3), out var plan);
        Assert.Equal("n2", plan!.Candidate);
        Assert.Equal(
            [new WaitRelayApplied("n3"), new WaitRelayApplied("n2"), new Repoint("n2", "n3", false, Required: true), new WaitCaughtUp("n2", "n3"), new Promote("n2")],
            plan.Actions.Skip(3).Take(5));
    }

    [Fact]
    public void NoCandidate_WritesStayClosed()
    {
        var config = Config(n3NeverPromote: true);
        var (m, _) = Steady(config);
        m.OnRound(Round(0.5, Down("n1"), Down("n2"), Replica("n3", io: "Connecting")), out _);
        var actions = m.OnRound(Round(1.0, Down("n1"), Down("n2"), Replica("n3", io: "Connecting")), out var plan);
        Assert.Null(plan);
        Assert.Contains(new RouteWrites(null), actions);
        Assert.Contains(actions, a => a is Alert { Kind: AlertKind.NoCandidate });
        Assert.True(m.PrimaryLost);
    }

    private static FailoverMachine AfterFailoverToN2(string promotedAt = "0-1-100")
    {
        var (m, _) = Steady(Config());
        m.OnRound(Round(0.5, Down("n1"), Replica("n2", io: "Connecting"), Replica("n3", io: "Connecting")), out _);
        m.OnRound(Round(1.0, Down("n1"), Replica("n2", io: "Connecting"), Replica("n3", io: "Connecting")), out var plan);
        m.OnOperationFinished(new OperationResult(plan!, true, true, null, GtidSet.Parse(promotedAt), [new TimelineEntry(T0.AddSeconds(1.2), "OpenWrites n2", 1, null)]));
        Assert.Equal("n2", m.Primary);
        Assert.Equal(1, m.Failovers);
        Assert.Equal(T0.AddSeconds(1.2), m.LastOperation!.WritesOpenAt);
        return m;
    }

    [Fact]
    public void Rejoin_OldPrimaryContained_IsAttachedAsReplica()
    {
        var m = AfterFailoverToN2();
        var oldPrimary = Primary("n1", pos: "0-1-100", readOnly: true);
        var actions = m.OnRound(Round(5, oldPrimary, Primary("n2", pos: "0-2-150"), Replica("n3", masterPort: 3312, applied: "0-2-150")), out _);
        Assert.Contains(new Repoint("n1", "n2", FormerPrimary: true), actions);
        Assert.Empty(m.HeldOut);
    }

    [Fact]
    public void Rejoin_OldPrimaryWithErrantTransaction_IsHeldOut()
    {
        // n1 wrote 0-1-101 (never acknowledged, never replicated) before dying; n2 was promoted at 0-1-100 and wrote 0-2-101…
        var m = AfterFailoverToN2();
        var oldPrimary = Primary("n1", pos: "0-1-101", readOnly: true);
        var actions = m.OnRound(Round(5, oldPrimary, Primary("n2", pos: "0-2-150"), Replica("n3", masterPort: 3312, applied: "0-2-150")), out _);
        Assert.DoesNotContain(actions, a => a is Repoint { Node: "n1" });
        var alert = Assert.Single(actions.OfType<Alert>(), a => a.Kind == AlertKind.ErrantTransactions);
        Assert.Equal("n1 held out (errant transactions, not merged): 0-1-101 is past the promotion point 0-1-100 and not in the primary's history (primary at 0-2-150)", alert.Message);
        // Held out for good: the next round does not try again.
        var next = m.OnRound(Round(6, oldPrimary, Primary("n2", pos: "0-2-151"), Replica("n3", masterPort: 3312, applied: "0-2-151")), out _);
        Assert.DoesNotContain(next, a => a is Repoint or Alert { Kind: AlertKind.ErrantTransactions });
    }

    [Fact]
    public void Rejoin_WritableOldPrimary_IsFencedFirst()
    {
        var m = AfterFailoverToN2();
        var actions = m.OnRound(Round(5, Primary("n1", readOnly: false), Primary("n2", pos: "0-2-150"), Replica("n3", masterPort: 3312)), out _);
        Assert.Contains(new Fence("n1", KillConnections: true), actions);
        Assert.DoesNotContain(actions, a => a is Repoint { Node: "n1" });
    }

    [Fact]
    public void SemiSyncFallback_IsReportedOnce_AndRecovery()
    {
        var (m, _) = Steady(Config());
        var a1 = m.OnRound(Round(1, Primary(semi: false, clients: 0), Replica("n2"), Replica("n3")), out _);
        Assert.Single(a1.OfType<Alert>(), a => a.Kind == AlertKind.SemiSyncDegraded);
        Assert.True(m.SemiSyncDegraded);
        var a2 = m.OnRound(Round(2, Primary(semi: false, clients: 0), Replica("n2"), Replica("n3")), out _);
        Assert.DoesNotContain(a2, a => a is Alert);
        var a3 = m.OnRound(Round(3, Primary(), Replica("n2"), Replica("n3")), out _);
        Assert.Single(a3.OfType<Alert>(), a => a.Kind == AlertKind.SemiSyncRestored);
    }

    [Fact]
    public void Switchover_FencesOldFirst_WaitsForItsPosition_ThenPromotes()
    {
        var (m, _) = Steady(Config());
        var round = Round(1, Primary(), Replica("n2"), Replica("n3"));
        var plan = m.RequestSwitchover(round, "n3", out var error);
        Assert.Null(error);
        Assert.Equal(
            [
                new RunHook(HookPhase.Pre, "n1", "n3"),
                new RouteWrites(null),
                new Fence("n1", KillConnections: true, Required: true),
                new WaitCaughtUp("n3", "n1"),
                new Promote("n3"),
                new Repoint("n2", "n3", FormerPrimary: false),
                new Repoint("n1", "n3", FormerPrimary: true),
                new WaitSemiSyncReplica("n3"),
                new OpenWrites("n3"),
                new RouteWrites("n3"),
                new RunHook(HookPhase.Post, "n1", "n3"),
            ],
            plan!.Actions);
        Assert.Equal([new OpenWrites("n1"), new RouteWrites("n1")], plan.Rollback);
        Assert.Null(m.RequestSwitchover(round, null, out var busy));
        Assert.Equal("an operation is already running", busy);
    }

    [Theory]
    [InlineData("n1", "n1 is already the primary")]
    [InlineData("n9", "no node 'n9' in the conf")]
    public void Switchover_Rejects(string target, string message)
    {
        var (m, _) = Steady(Config());
        Assert.Null(m.RequestSwitchover(Round(1, Primary(), Replica("n2"), Replica("n3")), target, out var error));
        Assert.Equal(message, error);
    }

    [Theory]
    [InlineData("0-1-100", "0-2-150", "0-1-100", null)]
    [InlineData("0-1-90", "0-2-150", "0-1-100", null)]
    [InlineData("0-2-120", "0-2-150", "0-1-100", null)]
    [InlineData("0-1-101", "0-2-150", "0-1-100", "0-1-101 is past the promotion point 0-1-100 and not in the primary's history (primary at 0-2-150)")]
    [InlineData("0-1-160", "0-2-150", null, "0-1-160 is not in the primary's history (primary at 0-2-150)")]
    [InlineData("1-1-5", "0-2-150", null, "domain 1 (1-1-5) is unknown to the primary")]
    public void ErrantReason_ComparesAgainstHistory(string node, string primary, string? promotedAt, string? expected) =>
        Assert.Equal(expected, FailoverPlanner.ErrantReason(GtidSet.Parse(node), GtidSet.Parse(primary), promotedAt is null ? null : GtidSet.Parse(promotedAt)));
    [Fact]
    public void Adopt_FailoverNotYetPromoted_IsPlannedAgainAtOnce()
    {
        var m = new FailoverMachine(Config());
        m.Adopt("n1", null, [], new OperationInProgress(OperationKind.Failover, "n1", "n2", false), 0, null);
        m.OnRound(Round(0, Down("n1"), Replica("n2", io: "Connecting"), Replica("n3", io: "Connecting")), out var plan);
        Assert.NotNull(plan);
        Assert.Equal("n2", plan.Candidate);
    }

    [Fact]
    public void Adopt_FailoverAlreadyPromoted_RepointsTheOthersAndOpensWrites()
    {
        var m = new FailoverMachine(Config());
        m.Adopt("n2", GtidSet.Parse("0-1-100"), [], new OperationInProgress(OperationKind.Failover, "n1", "n2", true), 0, null);
        // n2 promoted (detached, read-only) with n3 still pointing at the dead n1.
        var actions = m.OnRound(Round(0, Down("n1"), Primary("n2", readOnly: true, clients: 0), Replica("n3", io: "Connecting")), out var plan);
        Assert.Null(plan);
        Assert.Contains(new Repoint("n3", "n2", FormerPrimary: false), actions);
        Assert.DoesNotContain(actions, a => a is OpenWrites);
        // Once n3 is attached as a semi-sync replica, writes open.
        var next = m.OnRound(Round(1, Down("n1"), Primary("n2", readOnly: true, clients: 1), Replica("n3", masterPort: 3312)), out _);
        Assert.Equal([new OpenWrites("n2"), new RouteWrites("n2")], next.Where(a => a is OpenWrites or RouteWrites));
    }

    [Fact]
    public void Adopt_SwitchoverNotYetPromoted_ReopensTheOldPrimary()
    {
        var m = new FailoverMachine(Config());
        m.Adopt("n1", null, [], new OperationInProgress(OperationKind.Switchover, "n1", "n3", false), 0, null);
        var actions = m.OnRound(Round(0, Primary("n1", readOnly: true), Replica("n2"), Replica("n3")), out var plan);
        Assert.Null(plan);
        Assert.Contains(new OpenWrites("n1"), actions);
    }
}
