namespace Rampart.Sql.Topology;

/// <summary>One row of SHOW SLAVE STATUS: the node's replication from its primary.</summary>
public sealed record ReplicaStatus
{
    public required string MasterHost { get; init; }
    public required int MasterPort { get; init; }

    /// <summary>Slave_IO_Running: "Yes", "No" or "Connecting" (lost its primary and retrying).</summary>
    public required string IoRunning { get; init; }

    public required bool SqlRunning { get; init; }

    /// <summary>Gtid_IO_Pos: the last GTID received into the relay log (acknowledged to a semi-sync primary).</summary>
    public GtidSet IoPos { get; init; } = GtidSet.Empty;

    public long? SecondsBehind { get; init; }
    public int LastIoErrno { get; init; }
    public string LastIoError { get; init; } = "";
    public string LastSqlError { get; init; } = "";

    /// <summary>Using_Gtid: "No", "Slave_Pos" or "Current_Pos".</summary>
    public string UsingGtid { get; init; } = "No";

    public bool IoConnected => IoRunning == "Yes";

    public string Master => $"{MasterHost}:{MasterPort}";
}

/// <summary>What one check of one node saw. Unreachable nodes carry only <see cref="Error"/>.</summary>
public sealed record NodeObservation
{
    public required string Node { get; init; }
    public required bool Reachable { get; init; }
    public string? Error { get; init; }
    public int ServerId { get; init; }
    public bool ReadOnly { get; init; } = true;
    public GtidSet CurrentPos { get; init; } = GtidSet.Empty;
    public GtidSet SlavePos { get; init; } = GtidSet.Empty;
    public GtidSet BinlogPos { get; init; } = GtidSet.Empty;

    /// <summary>Null when the node replicates from nobody (a primary, or a replica after RESET SLAVE ALL).</summary>
    public ReplicaStatus? Replica { get; init; }

    /// <summary>rpl_semi_sync_master_enabled (configured).</summary>
    public bool SemiSyncMasterEnabled { get; init; }

    /// <summary>Rpl_semi_sync_master_status: OFF while enabled means the primary fell back to async.</summary>
    public bool SemiSyncMasterActive { get; init; }

    /// <summary>Rpl_semi_sync_master_clients: semi-sync replicas attached.</summary>
    public int SemiSyncClients { get; init; }

    /// <summary>Rpl_semi_sync_slave_status.</summary>
    public bool SemiSyncSlaveActive { get; init; }

    public static NodeObservation Down(string node, string error) => new() { Node = node, Reachable = false, Error = error };

    /// <summary>The most the node has or will have once its relay log is applied.</summary>
    public GtidSet ReceivedPos => Replica is null ? CurrentPos : CurrentPos.Union(Replica.IoPos);
}

/// <summary>One round of checks: every node, seen at one moment.</summary>
public sealed record CheckRound(DateTimeOffset At, IReadOnlyDictionary<string, NodeObservation> Nodes)
{
    public NodeObservation? this[string node] => Nodes.GetValueOrDefault(node);
}
