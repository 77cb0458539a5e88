using System.Diagnostics.Metrics;

namespace Rampart.Sql.Manager;

/// <summary>
/// The SQL manager's meter. rampart.sql.semi_sync_degraded is 1 while the primary has fallen back to async
/// replication: the moment a failover could lose acknowledged commits, which is what operators must alert on.
/// </summary>
internal sealed class SqlMetrics : IDisposable
{
    private readonly Meter _meter = new("Rampart.Sql");

    public SqlMetrics(Func<SqlStatus> status)
    {
        _meter.CreateObservableGauge("rampart.sql.semi_sync_degraded", () => status().SemiSyncDegraded ? 1 : 0,
            description: "1 while semi-sync has fallen back to async on the primary");
        _meter.CreateObservableGauge("rampart.sql.primary_lost", () => status().PrimaryLost ? 1 : 0,
            description: "1 while the primary is declared dead and no failover has succeeded");
        _meter.CreateObservableCounter("rampart.sql.failovers", () => status().Failovers,
            description: "failovers and switchovers completed");
        _meter.CreateObservableGauge("rampart.sql.held_out_nodes", () => status().HeldOut.Count,
            description: "nodes held out for errant transactions");
    }

    public void Dispose() => _meter.Dispose();
}
