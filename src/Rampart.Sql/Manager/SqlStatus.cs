using System.Text.Json;
using System.Text.Json.Serialization;
using Rampart.Sql.Config;
using Rampart.Sql.Failover;
using Rampart.Sql.Topology;

namespace Rampart.Sql.Manager;

/// <summary>One node as `rampart sql status` shows it.</summary>
public sealed record NodeStatus(
    string Name, string Address, string Role, bool Reachable, string? Error, bool ReadOnly,
    string GtidCurrentPos, string GtidSlavePos, string GtidBinlogPos,
    string? Master, string? IoRunning, bool? SqlRunning, long? SecondsBehind, string? ReplicationError,
    bool SemiSyncPrimaryActive, int SemiSyncClients, bool SemiSyncReplicaActive, bool NeverPromote, int Priority);

/// <summary>The manager's view, published after every round of checks.</summary>
public sealed record SqlStatus(
    string Manager, string? Leader, string? Primary, string Phase, bool PrimaryLost, int FailedChecks, bool SemiSyncDegraded,
    int Failovers, string? WritesTo, IReadOnlyList<string> Reads, IReadOnlyDictionary<string, string> HeldOut,
    IReadOnlyList<NodeStatus> Nodes, OperationSummary? LastOperation, DateTimeOffset CheckedAt,
    string? ProxyWrite, string? ProxyRead)
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter() },
        WriteIndented = false,
    };

    public static SqlStatus From(string manager, string? leader, SqlConfig config, FailoverMachine machine, CheckRound? round, string? writesTo, IReadOnlyList<string> reads) => new(
        manager, leader, machine.Primary, round is null ? "Standby" : machine.Phase.ToString(), machine.PrimaryLost, machine.FailedChecks, machine.SemiSyncDegraded,
        machine.Failovers, writesTo, reads, new Dictionary<string, string>(machine.HeldOut),
        [.. config.Nodes.Select(n => Node(config, machine, n, round?[n.Name]))], machine.LastOperation, round?.At ?? DateTimeOffset.MinValue,
        (config.Managers.FirstOrDefault(m => m.Name == manager)?.ProxyWrite ?? config.ProxyWrite)?.ToString(),
        (config.Managers.FirstOrDefault(m => m.Name == manager)?.ProxyRead ?? config.ProxyRead)?.ToString());

    private static NodeStatus Node(SqlConfig config, FailoverMachine machine, SqlNodeConfig n, NodeObservation? o)
    {
        string role = machine.HeldOut.ContainsKey(n.Name) ? "held-out"
            : n.Name == machine.Primary ? (o is { Reachable: true } ? "primary" : "primary (down)")
            : o is not { Reachable: true } ? "down"
            : o.Replica is { } r ? (machine.Primary is { } p && r.Master == config.Node(p).Address ? "replica" : $"replica of {r.Master}")
            : "detached";
        var rep = o?.Replica;
        string? error = rep is null ? null : string.Join("; ", new[] { rep.LastIoError, rep.LastSqlError }.Where(e => e.Length > 0)) is { Length: > 0 } e ? e : null;
        return new NodeStatus(n.Name, n.Address, role, o?.Reachable ?? false, o?.Error, o?.ReadOnly ?? true,
            o?.CurrentPos.ToString() ?? "", o?.SlavePos.ToString() ?? "", o?.BinlogPos.ToString() ?? "",
            rep?.Master, rep?.IoRunning, rep?.SqlRunning, rep?.SecondsBehind, error,
            o?.SemiSyncMasterActive ?? false, o?.SemiSyncClients ?? 0, o?.SemiSyncSlaveActive ?? false, n.NeverPromote, n.Priority);
    }

    /// <summary>The human form: a topology tree with positions, lag and semi-sync state, then the last operation.</summary>
    public string Render()
    {
        var w = new System.Text.StringBuilder();
        w.AppendLine($"manager {Manager} (leader: {Leader ?? "none"}), phase {Phase}, failovers {Failovers}");
        if (SemiSyncDegraded) w.AppendLine("WARNING: semi-sync has fallen back to async on the primary: a failover now could lose acknowledged commits");
        if (PrimaryLost) w.AppendLine($"WARNING: primary {Primary} is lost; writes are closed");
        w.AppendLine($"proxy: writes {ProxyWrite ?? "-"} -> {WritesTo ?? "(held)"}, reads {ProxyRead ?? "-"} -> [{string.Join(", ", Reads)}]");
        var primary = Nodes.FirstOrDefault(n => n.Name == Primary);
        if (primary is not null)
        {
            w.AppendLine($"{primary.Name} {primary.Address} {primary.Role}{(primary.ReadOnly ? " read-only" : " writable")} gtid {primary.GtidCurrentPos} semi-sync {(primary.SemiSyncPrimaryActive ? "on" : "OFF")} ({primary.SemiSyncClients} replica(s)){(primary.Error is null ? "" : $" error: {primary.Error}")}");
        }
        foreach (var n in Nodes.Where(n => n != primary))
        {
            string lag = n.SecondsBehind is { } s ? $"lag {s} s" : "lag -";
            w.AppendLine($"  └─ {n.Name} {n.Address} {n.Role} io {n.IoRunning ?? "-"} sql {(n.SqlRunning is true ? "Yes" : n.SqlRunning is false ? "No" : "-")} {lag} gtid {n.GtidCurrentPos} semi-sync {(n.SemiSyncReplicaActive ? "on" : "off")}"
                + (n.NeverPromote ? " never-promote" : "") + (n.Error is null ? "" : $" error: {n.Error}") + (n.ReplicationError is null ? "" : $" replication error: {n.ReplicationError}"));
        }
        foreach (var (node, why) in HeldOut) w.AppendLine($"held out: {node}: {why}");
        if (LastOperation is { } op)
        {
            w.AppendLine($"last {op.Kind.ToString().ToLowerInvariant()}: {op.OldPrimary} -> {op.NewPrimary} {(op.Succeeded ? "succeeded" : $"FAILED: {op.Error}")}");
            if (op.FirstFailureAt is { } f && op.DetectedAt is { } d) w.AppendLine($"  detection {(d - f).TotalMilliseconds:0} ms after the first failed check");
            if (op.DetectedAt is { } d2 && op.WritesOpenAt is { } o) w.AppendLine($"  writes open {(o - d2).TotalMilliseconds:0} ms after detection");
            foreach (var t in op.Timeline) w.AppendLine($"  {t.At:HH:mm:ss.fff} {t.Step} {t.Ms:0.0} ms{(t.Error is null ? "" : $" error: {t.Error}")}");
        }
        return w.ToString();
    }
}
