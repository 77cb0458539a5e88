using Rampart.Rados.Osd;
using Rampart.Rados.Osd.Store;

namespace Rampart.Rados.Tests.Osd;

public sealed class PeeringChooseTests
{
    private static PgVersion V(uint epoch, ulong seq) => new(epoch, seq);

    private static PeerState P(int osd, long les, int[] actingAtStart, PgVersion head, bool complete = true) =>
        new(osd, new PgInfo(les, actingAtStart, PgVersion.Zero, complete), head);

    [Fact]
    public void Brand_new_pg_with_nobody_down_activates_empty()
    {
        var r = Peering.Choose(0, [], []);
        Assert.Equal(PeeringVerdict.Activate, r.Verdict);
        Assert.Null(r.Authority);
        Assert.Empty(r.PriorSet);

        // Members that answered with an empty, never-activated copy are no evidence of data either.
        r = Peering.Choose(0, [P(0, 0, [], PgVersion.Zero), P(1, 0, [], PgVersion.Zero)], []);
        Assert.Equal(PeeringVerdict.Activate, r.Verdict);
        Assert.Null(r.Authority);
    }

    [Fact]
    public void The_monitors_last_active_set_decides_even_when_every_answer_predates_it()
    {
        // 2 kept the copy of interval 5 ([0,1,2]); 0 and 1 then went active without it (interval 8) and are gone now.
        PeerState[] answers = [P(2, 5, [0, 1, 2], V(5, 10)), P(3, 0, [], PgVersion.Zero)];
        Assert.Equal(PeeringVerdict.Activate, Peering.Choose(2, answers, []).Verdict); // what its own records suggest
        var r = Peering.Choose(2, answers, [], lastActive: [0, 1]);
        Assert.Equal(PeeringVerdict.Down, r.Verdict);
        Assert.Equal([0, 1], r.PriorSet);

        // Once a member of that interval answers, its copy is the authority, however old the others' records are.
        r = Peering.Choose(2, [.. answers, P(0, 8, [0, 1], V(8, 3))], [], lastActive: [0, 1]);
        Assert.Equal(PeeringVerdict.Activate, r.Verdict);
        Assert.Equal(0, r.Authority!.Osd);
        // A member that is still being recovered is not enough.
        Assert.Equal(PeeringVerdict.Incomplete, Peering.Choose(2, [.. answers, P(1, 8, [0, 1], V(8, 3), complete: false)], [], lastActive: [0, 1]).Verdict);
    }

    [Fact]
    public void No_answers_but_a_down_and_in_osd_may_hold_data_waits_down()
    {
        var r = Peering.Choose(0, [], [3]);
        Assert.Equal(PeeringVerdict.Down, r.Verdict);
        Assert.Null(r.Authority);
        Assert.Equal([3], r.PriorSet);

        // An empty copy here does not change that: the down OSD may hold the only data.
        r = Peering.Choose(0, [P(0, 0, [], PgVersion.Zero)], [3, 4]);
        Assert.Equal(PeeringVerdict.Down, r.Verdict);
        Assert.Equal([3, 4], r.PriorSet.Order());
    }

    [Fact]
    public void Authority_is_the_complete_member_of_the_last_active_set_with_the_newest_head()
    {
        PeerState[] answers =
        [
            P(0, 7, [0, 1, 2], V(7, 10)),
            P(1, 7, [0, 1, 2], V(7, 12)),
            P(2, 5, [2, 3], V(7, 11)),        // member of the last set that missed the newest activation record
            P(3, 5, [2, 3], V(5, 9)),         // member of an older set only
        ];
        var r = Peering.Choose(0, answers, []);
        Assert.Equal(PeeringVerdict.Activate, r.Verdict);
        Assert.Equal(1, r.Authority!.Osd);
        Assert.Equal(V(7, 12), r.Authority.Head);
        Assert.Equal([0, 1, 2], r.PriorSet);

        // The newest head wins regardless of answer order.
        r = Peering.Choose(0, answers.Reverse().ToArray(), []);
        Assert.Equal(1, r.Authority!.Osd);
    }

    [Fact]
    public void Version_order_is_epoch_first()
    {
        // 8'1 is newer than 7'99: the member that took writes in the newer epoch is the authority.
        var r = Peering.Choose(0, [P(0, 7, [0, 1], V(7, 99)), P(1, 8, [0, 1], V(8, 1))], []);
        Assert.Equal(1, r.Authority!.Osd);
    }

    [Fact]
    public void Incomplete_member_is_never_the_authority_even_with_the_newest_head()
    {
        var r = Peering.Choose(0, [P(0, 7, [0, 1], V(7, 5)), P(1, 7, [0, 1], V(7, 50), complete: false)], []);
        Assert.Equal(PeeringVerdict.Activate, r.Verdict);
        Assert.Equal(0, r.Authority!.Osd);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Equal_heads_prefer_self(int self)
    {
        PeerState[] answers = [P(0, 7, [0, 1, 2], V(7, 10)), P(1, 7, [0, 1, 2], V(7, 12)), P(2, 7, [0, 1, 2], V(7, 12))];
        var r = Peering.Choose(self, answers, []);
        Assert.Equal(self, r.Authority!.Osd);
        // ... in either answer order.
        Assert.Equal(self, Peering.Choose(self, answers.Reverse().ToArray(), []).Authority!.Osd);
    }

    [Fact]
    public void Self_with_an_older_head_does_not_win_a_tie_break()
    {
        var r = Peering.Choose(0, [P(0, 7, [0, 1], V(7, 11)), P(1, 7, [0, 1], V(7, 12))], []);
        Assert.Equal(1, r.Authority!.Osd);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    public void Divergent_osd_outside_the_last_active_set_is_not_chosen(int self)
    {
        // osd.3 wrote far ahead in an older interval; nothing it holds beyond the last active set's copy was
        // ever acknowledged, so it must not be the authority — not even when it is the one deciding.
        PeerState[] answers =
        [
            P(3, 6, [3, 4], V(9, 40)),
            P(0, 7, [0, 1], V(7, 12)),
            P(1, 7, [0, 1], V(7, 11)),
        ];
        var r = Peering.Choose(self, answers, []);
        Assert.Equal(PeeringVerdict.Activate, r.Verdict);
        Assert.Equal(0, r.Authority!.Osd);
        Assert.Equal([0, 1], r.PriorSet);
    }

    [Fact]
    public void Only_incomplete_members_of_the_last_active_set_answering_is_incomplete()
    {
        PeerState[] answers =
        [
            P(0, 7, [0, 1], V(7, 12), complete: false),
            P(2, 5, [2], V(5, 30)), // complete, but not a member of the last active set
        ];
        var r = Peering.Choose(2, answers, []);
        Assert.Equal(PeeringVerdict.Incomplete, r.Verdict);
        Assert.Null(r.Authority);
        Assert.Equal([0, 1], r.PriorSet);
    }

    [Fact]
    public void No_member_of_the_last_active_set_answering_is_down()
    {
        PeerState[] answers =
        [
            P(5, 7, [0, 1], V(7, 12)), // knows the last activation, but is not in that set
            P(2, 5, [2, 5], V(5, 30)),
        ];
        var r = Peering.Choose(2, answers, [0, 1]);
        Assert.Equal(PeeringVerdict.Down, r.Verdict);
        Assert.Null(r.Authority);
        Assert.Equal([0, 1], r.PriorSet);

        // Same verdict when the map does not even list them as down-and-in: the rule is the last active set.
        Assert.Equal(PeeringVerdict.Down, Peering.Choose(2, answers, []).Verdict);
    }
}

public sealed class PeeringRecoveryTests
{
    private static PgVersion V(uint epoch, ulong seq) => new(epoch, seq);

    private static PgLogEntry E(uint epoch, ulong seq, string obj) => new(V(epoch, seq), PgLogOp.Modify, obj, "", PgVersion.Zero);

    private static PeerState Peer(PgVersion head, bool complete = true) => new(1, new PgInfo(7, [0, 1], PgVersion.Zero, complete), head);

    private static readonly PgVersion Tail = V(5, 2);

    // Authority's log after Tail: 5'3 a, 5'4 b, 6'5 c, 6'6 d.
    private static readonly PgLogEntry[] AuthLog = [E(5, 3, "a"), E(5, 4, "b"), E(6, 5, "c"), E(6, 6, "d")];
    private static readonly PgVersion AuthHead = V(6, 6);

    [Fact]
    public void Same_head_needs_nothing()
    {
        var plan = Peering.PlanRecovery(Peer(AuthHead), AuthHead, Tail, AuthLog, AuthLog);
        Assert.Equal(RecoveryKind.None, plan.Kind);
        Assert.Empty(plan.Objects);
    }

    [Fact]
    public void Incomplete_peer_is_backfilled_even_when_its_head_matches()
    {
        var plan = Peering.PlanRecovery(Peer(AuthHead, complete: false), AuthHead, Tail, AuthLog, AuthLog);
        Assert.Equal(RecoveryKind.Backfill, plan.Kind);
        plan = Peering.PlanRecovery(Peer(V(5, 3), complete: false), AuthHead, Tail, AuthLog, [E(5, 3, "a")]);
        Assert.Equal(RecoveryKind.Backfill, plan.Kind);
    }

    [Fact]
    public void Peer_head_older_than_the_authority_log_tail_is_backfilled()
    {
        var plan = Peering.PlanRecovery(Peer(V(5, 1)), AuthHead, Tail, AuthLog, []);
        Assert.Equal(RecoveryKind.Backfill, plan.Kind);
        plan = Peering.PlanRecovery(Peer(PgVersion.Zero), AuthHead, Tail, AuthLog, []);
        Assert.Equal(RecoveryKind.Backfill, plan.Kind);
    }

    [Fact]
    public void Peer_head_at_the_tail_recovers_every_logged_object()
    {
        var plan = Peering.PlanRecovery(Peer(Tail), AuthHead, Tail, AuthLog, []);
        Assert.Equal(RecoveryKind.Log, plan.Kind);
        Assert.Equal(["a", "b", "c", "d"], plan.Objects.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Peer_missing_entries_recovers_exactly_their_objects()
    {
        var plan = Peering.PlanRecovery(Peer(V(5, 4)), AuthHead, Tail, AuthLog, [E(5, 3, "a"), E(5, 4, "b")]);
        Assert.Equal(RecoveryKind.Log, plan.Kind);
        Assert.Equal(["c", "d"], plan.Objects.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Divergent_peer_recovers_its_divergent_objects_and_the_authoritys_newer_ones()
    {
        // The peer kept writing at epoch 5 after 5'4 (never acknowledged); the authority went on at epoch 6.
        PgLogEntry[] peerLog = [E(5, 3, "a"), E(5, 4, "b"), E(5, 5, "x"), E(5, 6, "y"), E(5, 7, "c")];
        var plan = Peering.PlanRecovery(Peer(V(5, 7)), AuthHead, Tail, AuthLog, peerLog);
        Assert.Equal(RecoveryKind.Log, plan.Kind);
        Assert.Equal(["c", "d", "x", "y"], plan.Objects.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Peer_whose_head_the_authority_logged_needs_no_log_of_its_own()
    {
        Assert.False(Peering.NeedsPeerLog(Peer(V(5, 4)), AuthHead, Tail, AuthLog));
        Assert.False(Peering.NeedsPeerLog(Peer(AuthHead), AuthHead, Tail, AuthLog));
        Assert.False(Peering.NeedsPeerLog(Peer(V(5, 7), complete: false), AuthHead, Tail, AuthLog)); // backfilled anyway
        Assert.True(Peering.NeedsPeerLog(Peer(V(5, 7)), AuthHead, Tail, AuthLog)); // 5'7 is nowhere in the authority's log: divergent

        // Without the peer's log the plan is the same as with it, and only the authority's entries after the peer's head are needed.
        var withLog = Peering.PlanRecovery(Peer(V(5, 4)), AuthHead, Tail, AuthLog, [E(5, 3, "a"), E(5, 4, "b")]);
        var without = Peering.PlanRecovery(Peer(V(5, 4)), AuthHead, Tail, AuthLog[1..], []);
        Assert.Equal(withLog.Objects.Order(StringComparer.Ordinal), without.Objects.Order(StringComparer.Ordinal));
        Assert.Equal(V(5, 4), withLog.Since);
        Assert.Equal(V(5, 4), without.Since);
    }

    [Fact]
    public void Divergent_peer_keeps_its_log_only_up_to_the_last_shared_version()
    {
        PgLogEntry[] peerLog = [E(5, 3, "a"), E(5, 4, "b"), E(5, 5, "x")];
        Assert.Equal(V(5, 4), Peering.PlanRecovery(Peer(V(5, 5)), AuthHead, Tail, AuthLog, peerLog).Since);
        Assert.Equal(Tail, Peering.PlanRecovery(Peer(Tail), AuthHead, Tail, AuthLog, []).Since);
        Assert.Equal(PgVersion.Zero, Peering.PlanRecovery(Peer(V(5, 1)), AuthHead, Tail, AuthLog, []).Since);
    }

    [Fact]
    public void Peer_ahead_with_only_divergent_entries_rolls_them_back()
    {
        PgLogEntry[] authLog = [E(5, 3, "a"), E(5, 4, "b")];
        PgLogEntry[] peerLog = [E(5, 3, "a"), E(5, 4, "b"), E(5, 5, "z")];
        var plan = Peering.PlanRecovery(Peer(V(5, 5)), V(5, 4), Tail, authLog, peerLog);
        Assert.Equal(RecoveryKind.Log, plan.Kind);
        Assert.Equal(["z"], plan.Objects);
    }
}

public sealed class PeeringStateNameTests
{
    [Theory]
    [InlineData(3, 3, 0, false, "active+clean")]
    [InlineData(2, 3, 0, false, "active+undersized+degraded")]
    [InlineData(3, 3, 1, false, "active+recovering+degraded")]
    [InlineData(3, 3, 2, true, "active+backfilling+degraded")]
    [InlineData(1, 1, 0, false, "active+clean")]
    public void Active_state_names(int acting, int size, int recovering, bool backfilling, string expected) =>
        Assert.Equal(expected, Peering.ActiveState(acting, size, recovering, backfilling));
}
