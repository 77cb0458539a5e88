namespace Rampart.Sql.Failover;

/// <summary>
/// An effect the manager's shell carries out against MariaDB, the proxy or a hook. Produced by the pure
/// <see cref="FailoverMachine"/>; executed in order. A failed <see cref="Critical"/> action stops its operation.
/// </summary>
public abstract record SqlAction
{
    public virtual bool Critical => false;
}

/// <summary>Proxy write endpoint: send new connections to <paramref name="Node"/>; null holds them and closes every open one.</summary>
public sealed record RouteWrites(string? Node) : SqlAction;

/// <summary>Proxy read endpoint: balance over these replicas (least connections).</summary>
public sealed record RouteReads(IReadOnlyList<string> Nodes) : SqlAction;

public enum HookPhase { Pre, Post }

/// <summary>Operator hook (like MHA's master_ip_failover_script), e.g. to move a `rampart vrrp` VIP.</summary>
public sealed record RunHook(HookPhase Phase, string OldPrimary, string NewPrimary) : SqlAction;

/// <summary>
/// STOP SLAVE IO_THREAD on every node at once. Their primary is dead; an IO thread stuck connecting to it would
/// make each later STOP SLAVE wait out a connect timeout, one node after the other.
/// </summary>
public sealed record StopIoThreads(IReadOnlyList<string> Nodes) : SqlAction
{
    public bool Equals(StopIoThreads? other) => other is not null && Nodes.SequenceEqual(other.Nodes);

    public override int GetHashCode() => Nodes.Count;
}

/// <summary>MASTER_GTID_WAIT until the node has applied everything its IO thread received (Gtid_IO_Pos).</summary>
public sealed record WaitRelayApplied(string Node) : SqlAction
{
    public override bool Critical => true;
}

/// <summary>MASTER_GTID_WAIT on <paramref name="Node"/> for <paramref name="Source"/>'s @@gtid_binlog_pos, read at execution time.</summary>
public sealed record WaitCaughtUp(string Node, string Source) : SqlAction
{
    public override bool Critical => true;
}

/// <summary>STOP SLAVE; RESET SLAVE ALL; semi-sync primary side on. Writes stay closed (read_only=ON).</summary>
public sealed record Promote(string Node) : SqlAction
{
    public override bool Critical => true;
}

/// <summary>
/// CHANGE MASTER TO the new primary with master_use_gtid=slave_pos, semi-sync replica side on, START SLAVE.
/// A former primary's own transactions are in its binlog, not its gtid_slave_pos: it adopts @@gtid_binlog_pos first.
/// </summary>
public sealed record Repoint(string Node, string Primary, bool FormerPrimary, bool Required = false) : SqlAction
{
    public override bool Critical => Required;
}

/// <summary>Waits until Rpl_semi_sync_master_clients ≥ 1 so no commit is acknowledged with only one copy.</summary>
public sealed record WaitSemiSyncReplica(string Node) : SqlAction
{
    public override bool Critical => true;
}

/// <summary>SET GLOBAL read_only=OFF.</summary>
public sealed record OpenWrites(string Node) : SqlAction
{
    public override bool Critical => true;
}

/// <summary>SET GLOBAL read_only=ON and, when asked, kill every client connection. Best effort unless <paramref name="Required"/>.</summary>
public sealed record Fence(string Node, bool KillConnections, bool Required = false) : SqlAction
{
    public override bool Critical => Required;
}

public enum AlertKind { PrimarySuspect, PrimaryDead, NoCandidate, ErrantTransactions, SemiSyncDegraded, SemiSyncRestored, SecondWriter, NoPrimary, PrimaryDiscovered }

/// <summary>Something an operator must see: logged, counted, shown by `rampart sql status`.</summary>
public sealed record Alert(AlertKind Kind, string Node, string Message) : SqlAction;
