using Rampart.Sql.Failover;
using Rampart.Sql.Manager;

namespace Rampart.Sql.Tests.Manager;

public class ManagerStateTests
{
    private static void Apply(ManagerState state, long index, ManagerCommand command) => state.Apply(index, ManagerState.Encode(command));

    [Fact]
    public void Commands_BuildTheAgreedState_AndSnapshotRestoresIt()
    {
        var state = new ManagerState();
        Apply(state, 1, new ManagerCommand(ManagerCommand.SetPrimary, "n1"));
        Apply(state, 2, new ManagerCommand(ManagerCommand.Writes, "n1"));
        Apply(state, 3, new ManagerCommand(ManagerCommand.Begin, Kind: OperationKind.Failover, Old: "n1", Candidate: "n2"));
        Apply(state, 4, new ManagerCommand(ManagerCommand.Writes, null));
        Apply(state, 5, new ManagerCommand(ManagerCommand.Promoted, Candidate: "n2", Gtid: "0-1-100"));
        var mid = state.Current;
        Assert.Equal("n2", mid.Primary);
        Assert.Equal(new OperationInProgress(OperationKind.Failover, "n1", "n2", true), mid.Operation);
        Assert.Null(mid.Writes);

        var summary = new OperationSummary(OperationKind.Failover, "n1", "n2", true, null, null, null, null, []);
        Apply(state, 6, new ManagerCommand(ManagerCommand.End, Summary: summary));
        Apply(state, 7, new ManagerCommand(ManagerCommand.HoldOut, "n1", Reason: "errant"));
        Apply(state, 8, new ManagerCommand(ManagerCommand.Reads, Nodes: ["n3"]));

        var copy = new ManagerState();
        copy.Restore(state.Snapshot());
        var d = copy.Current;
        Assert.Equal("n2", d.Primary);
        Assert.Equal("0-1-100", d.PromotedAt);
        Assert.Null(d.Operation);
        Assert.Equal(1, d.Failovers);
        Assert.Equal("errant", d.HeldOut["n1"]);
        Assert.Equal(["n3"], d.Reads);
        Assert.Equal("n2", d.LastOperation!.NewPrimary);
    }

    [Fact]
    public void UnknownOp_IsSkipped()
    {
        var state = new ManagerState();
        Apply(state, 1, new ManagerCommand("from-the-future", "x"));
        Assert.Null(state.Current.Primary);
    }
}
