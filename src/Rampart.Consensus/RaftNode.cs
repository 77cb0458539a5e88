using System.Diagnostics;
using System.Net;
using DotNext.Net.Cluster;
using DotNext.Net.Cluster.Consensus.Raft;
using DotNext.Net.Cluster.Consensus.Raft.StateMachine;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Rampart.Consensus;

/// <summary>
/// One member of a Raft group replicating an <see cref="IReplicatedStateMachine"/> over TCP.
/// Hides DotNext.Net.Cluster: write-ahead log and snapshots live under <see cref="RaftOptions.DataDirectory"/>.
/// </summary>
public sealed partial class RaftNode : IAsyncDisposable
{
    private readonly RaftCluster _cluster;
    private readonly WriteAheadLog _log;
    private readonly ReplicatedStateMachineAdapter _adapter;
    private readonly ILogger _logger;
    private int _disposed;

    private RaftNode(RaftOptions options, RaftCluster cluster, WriteAheadLog log, ReplicatedStateMachineAdapter adapter, ILogger logger)
    {
        Options = options;
        _cluster = cluster;
        _log = log;
        _adapter = adapter;
        _logger = logger;
        _cluster.LeaderChanged += OnLeaderChanged;
    }

    public RaftOptions Options { get; }

    /// <summary>Raised (on a DotNext thread) when this node learns of a new leader, or null when it loses it.</summary>
    public event Action<IPEndPoint?>? LeaderChanged;

    public bool IsLeader => !_cluster.LeadershipToken.IsCancellationRequested;

    public IPEndPoint? Leader => _cluster.Leader?.EndPoint as IPEndPoint;

    public long Term => _cluster.Term;

    /// <summary>Index of the last entry applied to the local state machine.</summary>
    public long LastAppliedIndex => _adapter.LastAppliedIndex;

    /// <summary>Index covered by the latest snapshot taken or restored on this node (0 = none).</summary>
    public long LastSnapshotIndex => _adapter.LastSnapshotIndex;

    public static async Task<RaftNode> StartAsync(RaftOptions options, IReplicatedStateMachine machine, ILoggerFactory? logs, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(machine);
        options.Validate();
        logs ??= NullLoggerFactory.Instance;

        var dataDir = Directory.CreateDirectory(options.DataDirectory);
        var adapter = new ReplicatedStateMachineAdapter(dataDir.CreateSubdirectory("snapshots"), machine, options.SnapshotEvery);
        WriteAheadLog? log = null;
        RaftCluster? cluster = null;
        try
        {
            // Restore first: the WAL reads the snapshot index in its constructor to skip what it covers.
            await adapter.RestoreAsync(cancellationToken).ConfigureAwait(false);
            log = new WriteAheadLog(
                new WriteAheadLog.Options
                {
                    Location = Path.Combine(dataDir.FullName, "wal"),
                    ChunkSize = options.LogChunkSize,
                },
                adapter);

            var membership = new StaticMembership(options.Members);

            var config = new RaftCluster.TcpConfiguration(options.LocalEndPoint)
            {
                LowerElectionTimeout = (int)options.LowerElectionTimeout.TotalMilliseconds,
                UpperElectionTimeout = (int)options.UpperElectionTimeout.TotalMilliseconds,
                ColdStart = false,
                ConfigurationStorage = membership,
                LoggerFactory = logs,
            };

            cluster = new RaftCluster(config) { AuditTrail = log };
            var node = new RaftNode(options, cluster, log, adapter, logs.CreateLogger("Rampart.Consensus.RaftNode"));
            await cluster.StartAsync(cancellationToken).ConfigureAwait(false);
            Log.Started(node._logger, options.LocalEndPoint, options.Members.Count, adapter.LastSnapshotIndex, log.LastCommittedEntryIndex);
            return node;
        }
        catch
        {
            if (cluster is not null)
                cluster.Dispose();
            if (log is not null)
                await log.DisposeAsync().ConfigureAwait(false);
            await adapter.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Replicates <paramref name="command"/>; returns its log index once it is committed and applied here.
    /// Throws <see cref="NotLeaderException"/> on a follower (or if leadership is lost meanwhile).
    /// </summary>
    public async ValueTask<long> ProposeAsync(ReadOnlyMemory<byte> command, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (command.IsEmpty)
            throw new ArgumentException("raft: an empty command is reserved for Raft's no-op entries.", nameof(command));
        if (!IsLeader)
            throw new NotLeaderException(Leader);

        var proposal = new Proposal();
        try
        {
            await _cluster.ReplicateAsync(command, proposal, cancellationToken).ConfigureAwait(false);
        }
        catch (DotNext.Net.Cluster.Consensus.Raft.NotLeaderException e)
        {
            throw new NotLeaderException(Leader, e);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested && !IsLeader)
        {
            // DotNext cancels in-flight replication with its leadership token when the node steps down;
            // the entry may or may not commit under the next leader.
            throw new NotLeaderException(Leader, e);
        }

        // DotNext applies on the leader before ReplicateAsync returns; the wait is a safety net.
        return await proposal.AppliedTask.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Waits until this node's state machine reflects every write committed before the call (linearizable read).</summary>
    public async ValueTask ReadBarrierAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                await _cluster.ApplyReadBarrierAsync(cancellationToken).ConfigureAwait(false);
                return;
            }
            // A follower's pooled connection to a leader that restarted fails once; the next request reconnects.
            catch (DotNext.Net.Cluster.MemberUnavailableException) when (attempt < 3)
            {
            }
        }
    }

    private void OnLeaderChanged(ICluster cluster, IClusterMember? leader)
    {
        var endPoint = leader?.EndPoint as IPEndPoint;
        Log.LeaderChanged(_logger, Options.LocalEndPoint, endPoint, _cluster.Term);
        LeaderChanged?.Invoke(endPoint);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;

        _cluster.LeaderChanged -= OnLeaderChanged;
        var watch = Stopwatch.StartNew();
        try
        {
            await _cluster.StopAsync(CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            _cluster.Dispose();
            await _log.DisposeAsync().ConfigureAwait(false);
            await _adapter.DisposeAsync().ConfigureAwait(false);
            Log.Stopped(_logger, Options.LocalEndPoint, watch.ElapsedMilliseconds);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4001, Level = LogLevel.Information, Message = "raft {Member}: started with {Members} members, snapshot index {SnapshotIndex}, committed index {CommitIndex}")]
        public static partial void Started(ILogger logger, IPEndPoint member, int members, long snapshotIndex, long commitIndex);

        [LoggerMessage(EventId = 4002, Level = LogLevel.Information, Message = "raft {Member}: leader is {Leader} (term {Term})")]
        public static partial void LeaderChanged(ILogger logger, IPEndPoint member, IPEndPoint? leader, long term);

        [LoggerMessage(EventId = 4003, Level = LogLevel.Information, Message = "raft {Member}: stopped in {ElapsedMs} ms")]
        public static partial void Stopped(ILogger logger, IPEndPoint member, long elapsedMs);
    }
}
