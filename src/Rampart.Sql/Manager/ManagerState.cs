using System.Text.Json;
using Rampart.Consensus;
using Rampart.Sql.Failover;

namespace Rampart.Sql.Manager;

/// <summary>One change to the managers' shared state. Written by the leader, applied by every manager in log order.</summary>
public sealed record ManagerCommand(
    string Op, string? Node = null, OperationKind? Kind = null, string? Old = null, string? Candidate = null,
    string? Gtid = null, string? Reason = null, IReadOnlyList<string>? Nodes = null, OperationSummary? Summary = null)
{
    public const string SetPrimary = "primary";
    public const string Begin = "begin";
    public const string Promoted = "promoted";
    public const string End = "end";
    public const string Writes = "writes";
    public const string Reads = "reads";
    public const string HoldOut = "holdout";
}

/// <summary>
/// What the SQL managers agree on through Raft: the primary, the fork point of its history, the held-out nodes,
/// an operation in progress, and where the proxies route. Only the leader acts on MariaDB; every manager's proxy
/// routes from this state, so no two proxies can send writes to different primaries.
/// </summary>
public sealed class ManagerState : IReplicatedStateMachine
{
    private readonly Lock _lock = new();
    private Data _data = new();

    /// <summary>Raised after each applied command (on the applier thread).</summary>
    public event Action<ManagerState>? Changed;

    public sealed record Data
    {
        public string? Primary { get; init; }
        public string? PromotedAt { get; init; }
        public Dictionary<string, string> HeldOut { get; init; } = [];
        public OperationInProgress? Operation { get; init; }
        public string? Writes { get; init; }
        public IReadOnlyList<string> Reads { get; init; } = [];
        public int Failovers { get; init; }
        public OperationSummary? LastOperation { get; init; }
    }

    public Data Current { get { lock (_lock) return _data; } }

    public static byte[] Encode(ManagerCommand command) => JsonSerializer.SerializeToUtf8Bytes(command, SqlStatus.Json);

    public void Apply(long index, ReadOnlySpan<byte> command)
    {
        var c = JsonSerializer.Deserialize<ManagerCommand>(command, SqlStatus.Json) ?? throw new InvalidDataException($"sql manager: log entry {index} is empty");
        lock (_lock)
        {
            var d = _data;
            _data = c.Op switch
            {
                ManagerCommand.SetPrimary => d with { Primary = c.Node },
                ManagerCommand.Begin => d with { Operation = new OperationInProgress(c.Kind!.Value, c.Old!, c.Candidate!, false) },
                ManagerCommand.Promoted => d with { Primary = c.Candidate, PromotedAt = c.Gtid, Operation = d.Operation is { } o ? o with { Promoted = true } : null },
                ManagerCommand.End => d with
                {
                    Operation = null,
                    LastOperation = c.Summary,
                    Failovers = d.Failovers + (c.Summary is { Succeeded: true } ? 1 : 0),
                },
                ManagerCommand.Writes => d with { Writes = c.Node },
                ManagerCommand.Reads => d with { Reads = c.Nodes ?? [] },
                ManagerCommand.HoldOut => d with { HeldOut = new Dictionary<string, string>(d.HeldOut) { [c.Node!] = c.Reason ?? "" } },
                // An unknown op from a newer version is skipped, not fatal: the log must stay applicable.
                _ => d,
            };
        }
        Changed?.Invoke(this);
    }

    public byte[] Snapshot()
    {
        lock (_lock) return JsonSerializer.SerializeToUtf8Bytes(_data, SqlStatus.Json);
    }

    public void Restore(ReadOnlySpan<byte> snapshot)
    {
        var data = JsonSerializer.Deserialize<Data>(snapshot, SqlStatus.Json) ?? new Data();
        lock (_lock) _data = data;
        Changed?.Invoke(this);
    }
}
