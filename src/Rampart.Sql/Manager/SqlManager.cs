using System.Net.Sockets;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Rampart.Balancer;
using Rampart.Consensus;
using Rampart.Sql.Config;
using Rampart.Sql.Failover;
using Rampart.Sql.Topology;

namespace Rampart.Sql.Manager;

/// <summary>
/// `rampart sql manager run`: checks every node each check_interval, feeds the rounds to the pure
/// <see cref="FailoverMachine"/> and executes its actions. It hosts the proxy (write and read endpoints), so
/// the component that decides a failover is the one that reroutes clients: no second view of the topology
/// can disagree with it. One loop does everything in order, so an operation never overlaps a check.
/// </summary>
public sealed partial class SqlManager : IAsyncDisposable, IRouter
{
    private readonly SqlConfig _config;
    private readonly string _name;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly NodeProbe _probe;
    private readonly ICoordinator _coordinator;
    private readonly ActionExecutor _executor;
    private FailoverMachine? _machine;
    private readonly TcpProxy? _writeProxy;
    private readonly TcpProxy? _readProxy;
    private readonly TcpListener? _control;
    private readonly CancellationTokenSource _stop = new();
    private readonly Channel<(ControlRequest Request, TaskCompletionSource<ControlReply> Reply)> _requests = Channel.CreateUnbounded<(ControlRequest, TaskCompletionSource<ControlReply>)>();
    private readonly List<Task> _tasks = [];
    private volatile SqlStatus _status;
    private readonly SqlMetrics _metrics;

    private SqlManager(SqlConfig config, string name, ICoordinator coordinator, ILoggerFactory logs, TimeProvider time)
    {
        _config = config;
        _name = name;
        _time = time;
        _coordinator = coordinator;
        _logger = logs.CreateLogger("Rampart.Sql.Manager");
        _probe = new NodeProbe(config);
        _executor = new ActionExecutor(config, _probe, this, time, _logger);
        var proxyLog = logs.CreateLogger("Rampart.Balancer.TcpProxy");
        var me = config.Managers.FirstOrDefault(m => m.Name == name);
        bool redirect = me?.ProxyRedirectLocal ?? config.ProxyRedirectLocal;
        try
        {
            if ((me?.ProxyWrite ?? config.ProxyWrite) is { } w) _writeProxy = new TcpProxy("sql-write", w, config.ProxyHold, proxyLog, redirectLocal: redirect);
            if ((me?.ProxyRead ?? config.ProxyRead) is { } r) _readProxy = new TcpProxy("sql-read", r, config.ProxyHold, proxyLog, redirectLocal: redirect);
            if (me is not null)
            {
                _control = new TcpListener(me.Address);
                _control.Start();
            }
        }
        catch
        {
            _writeProxy?.DisposeAsync().AsTask().GetAwaiter().GetResult();
            _readProxy?.DisposeAsync().AsTask().GetAwaiter().GetResult();
            throw;
        }
        // Every manager's proxy routes from the agreed state, the leader's included: one view of the primary.
        coordinator.State.Changed += ApplyRoutes;
        ApplyRoutes(coordinator.State);
        _status = FollowerStatus();
        _metrics = new SqlMetrics(() => _status);
    }

    public SqlStatus Status => _status;

    /// <summary>
    /// Starts the manager named <paramref name="name"/>. With several [sql.manager.NAME] sections the managers form a
    /// Raft group and only the leader acts; with one (or none) it acts alone.
    /// </summary>
    public static async Task<SqlManager> StartAsync(SqlConfig config, string name, ILoggerFactory logs, TimeProvider? time = null, CancellationToken cancellationToken = default)
    {
        ICoordinator coordinator = config.Managers.Count > 1
            ? await RaftCoordinator.StartAsync(config, name, logs, cancellationToken).ConfigureAwait(false)
            : new SoloCoordinator(name);
        SqlManager manager;
        try
        {
            manager = new SqlManager(config, name, coordinator, logs, time ?? TimeProvider.System);
        }
        catch
        {
            await coordinator.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        manager._tasks.Add(manager.LoopAsync(manager._stop.Token));
        if (manager._control is not null)
            manager._tasks.Add(SqlControl.ServeAsync(manager._control, manager.HandleAsync, manager._stop.Token));
        Log.Started(manager._logger, name, config.Nodes.Count, config.CheckInterval.TotalMilliseconds, manager._writeProxy?.LocalEndPoint.ToString() ?? "-", manager._readProxy?.LocalEndPoint.ToString() ?? "-", config.Managers.Count);
        return manager;
    }

    private void ApplyRoutes(ManagerState state)
    {
        var d = state.Current;
        _writeProxy?.SetBackends(d.Writes is { } w && _config.Nodes.Any(n => n.Name == w) ? [Endpoint(_config.Node(w))] : []);
        _readProxy?.SetBackends([.. d.Reads.Where(r => _config.Nodes.Any(n => n.Name == r)).Select(r => Endpoint(_config.Node(r)))]);
    }

    /// <summary>What a manager that does not lead knows: the agreed state, no fresh observations.</summary>
    private SqlStatus FollowerStatus()
    {
        var d = _coordinator.State.Current;
        var machine = new FailoverMachine(_config);
        machine.Adopt(d.Primary, d.PromotedAt is null ? null : GtidSet.Parse(d.PromotedAt), d.HeldOut, d.Operation, d.Failovers, d.LastOperation);
        return SqlStatus.From(_name, _coordinator.Leader, _config, machine, null, d.Writes, d.Reads);
    }

    private async Task LoopAsync(CancellationToken token)
    {
        while (!token.IsCancellationRequested)
        {
            var started = _time.GetTimestamp();
            try
            {
                if (!_coordinator.IsLeader)
                {
                    if (_machine is not null) Log.NotLeader(_logger, _name, _coordinator.Leader ?? "none");
                    _machine = null;
                    _status = FollowerStatus();
                    FailRequests("not the leader");
                }
                else
                {
                    if (_machine is null)
                    {
                        // A new leader first learns everything committed, then takes over from there.
                        await _coordinator.BarrierAsync(token).ConfigureAwait(false);
                        var d = _coordinator.State.Current;
                        var machine = new FailoverMachine(_config);
                        machine.Adopt(d.Primary, d.PromotedAt is null ? null : GtidSet.Parse(d.PromotedAt), d.HeldOut, d.Operation, d.Failovers, d.LastOperation);
                        _machine = machine;
                        Log.Leading(_logger, _name, d.Primary ?? "(unknown)", d.Operation is { } op ? $"resuming {op.Kind} {op.Old} -> {op.Candidate}{(op.Promoted ? " (promoted)" : "")}" : "nothing in progress");
                    }
                    await LeadOneRoundAsync(_machine, token).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                return;
            }
            catch (NotLeaderException e)
            {
                Log.LostLeadership(_logger, _name, e.Message);
                _machine = null;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // The loop must survive anything a node throws at it; the next round starts from fresh observations.
                Log.RoundFailed(_logger, e);
            }
            var left = _config.CheckInterval - _time.GetElapsedTime(started);
            if (left > TimeSpan.Zero)
            {
                try { await Task.Delay(left, _time, token).ConfigureAwait(false); }
                catch (OperationCanceledException) { return; }
            }
        }
    }

    private async Task LeadOneRoundAsync(FailoverMachine machine, CancellationToken token)
    {
        var round = await _probe.RoundAsync(_time, token).ConfigureAwait(false);
        var known = machine.Primary;
        var actions = machine.OnRound(round, out var plan);
        if (machine.Primary != known && machine.Primary is not null && plan is null)
            await _coordinator.ProposeAsync(new ManagerCommand(ManagerCommand.SetPrimary, machine.Primary), token).ConfigureAwait(false);
        foreach (var action in actions)
        {
            if (action is Alert { Kind: AlertKind.ErrantTransactions } held && machine.HeldOut.TryGetValue(held.Node, out var why))
                await _coordinator.ProposeAsync(new ManagerCommand(ManagerCommand.HoldOut, held.Node, Reason: why), token).ConfigureAwait(false);
            if (await _executor.ExecuteAsync(action, token).ConfigureAwait(false) is { } error)
                Log.ActionFailed(_logger, ActionExecutor.Describe(action), error);
        }
        if (plan is not null)
            await RunAsync(machine, plan, token).ConfigureAwait(false);
        _status = SqlStatus.From(_name, _name, _config, machine, round, _coordinator.State.Current.Writes, _coordinator.State.Current.Reads);

        while (_requests.Reader.TryRead(out var request))
            request.Reply.TrySetResult(await SwitchoverAsync(machine, request.Request.To, token).ConfigureAwait(false));
    }

    private async Task<OperationResult> RunAsync(FailoverMachine machine, FailoverPlan plan, CancellationToken token)
    {
        // Committed before the first step: a manager that cannot reach a majority never touches MariaDB.
        await _coordinator.ProposeAsync(new ManagerCommand(ManagerCommand.Begin, Kind: plan.Kind, Old: plan.OldPrimary, Candidate: plan.Candidate), token).ConfigureAwait(false);
        var result = await _executor.RunPlanAsync(plan,
            (node, pos) => _coordinator.ProposeAsync(new ManagerCommand(ManagerCommand.Promoted, Candidate: node, Gtid: pos?.ToString()), token),
            () => _coordinator.IsLeader, token).ConfigureAwait(false);
        machine.OnOperationFinished(result);
        await _coordinator.ProposeAsync(new ManagerCommand(ManagerCommand.End, Summary: machine.LastOperation), token).ConfigureAwait(false);
        var total = result.Timeline.Sum(t => t.Ms);
        if (result.Succeeded) Log.OperationDone(_logger, plan.Kind, plan.OldPrimary, plan.Candidate, total);
        else Log.OperationFailed(_logger, plan.Kind, plan.OldPrimary, plan.Candidate, result.Error ?? "");
        return result;
    }

    private async Task<ControlReply> SwitchoverAsync(FailoverMachine machine, string? to, CancellationToken token)
    {
        var round = await _probe.RoundAsync(_time, token).ConfigureAwait(false);
        var plan = machine.RequestSwitchover(round, to, out var error);
        if (plan is null) return new ControlReply(false, error);
        var result = await RunAsync(machine, plan, token).ConfigureAwait(false);
        _status = SqlStatus.From(_name, _name, _config, machine, await _probe.RoundAsync(_time, token).ConfigureAwait(false), _coordinator.State.Current.Writes, _coordinator.State.Current.Reads);
        return result.Succeeded ? new ControlReply(true, Status: _status) : new ControlReply(false, result.Error, _status);
    }

    private void FailRequests(string why)
    {
        while (_requests.Reader.TryRead(out var r)) r.Reply.TrySetResult(new ControlReply(false, why));
    }

    private async Task<ControlReply> HandleAsync(ControlRequest request, CancellationToken token)
    {
        switch (request.Op)
        {
            case "status":
                return new ControlReply(true, Status: _status);
            case "switchover":
                if (!_coordinator.IsLeader) return new ControlReply(false, $"manager {_name} is not the leader", Redirect: _coordinator.Leader);
                var reply = new TaskCompletionSource<ControlReply>(TaskCreationOptions.RunContinuationsAsynchronously);
                await _requests.Writer.WriteAsync((request, reply), token).ConfigureAwait(false);
                return await reply.Task.WaitAsync(token).ConfigureAwait(false);
            default:
                return new ControlReply(false, $"unknown op '{request.Op}' (status, switchover)");
        }
    }

    Task IRouter.RouteWritesAsync(string? node, CancellationToken cancellationToken) =>
        _coordinator.State.Current.Writes == node ? Task.CompletedTask : _coordinator.ProposeAsync(new ManagerCommand(ManagerCommand.Writes, node), cancellationToken);

    Task IRouter.RouteReadsAsync(IReadOnlyList<string> nodes, CancellationToken cancellationToken) =>
        _coordinator.State.Current.Reads.SequenceEqual(nodes) ? Task.CompletedTask : _coordinator.ProposeAsync(new ManagerCommand(ManagerCommand.Reads, Nodes: nodes), cancellationToken);

    private static System.Net.IPEndPoint Endpoint(SqlNodeConfig node) =>
        System.Net.IPAddress.TryParse(node.Host, out var ip) ? new(ip, node.Port)
            : new(System.Net.Dns.GetHostAddresses(node.Host).First(a => a.AddressFamily == AddressFamily.InterNetwork), node.Port);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _control?.Stop();
        FailRequests("manager stopping");
        try { await Task.WhenAll(_tasks).ConfigureAwait(false); } catch (OperationCanceledException) { }
        _coordinator.State.Changed -= ApplyRoutes;
        await _coordinator.DisposeAsync().ConfigureAwait(false);
        _metrics.Dispose();
        if (_writeProxy is not null) await _writeProxy.DisposeAsync().ConfigureAwait(false);
        if (_readProxy is not null) await _readProxy.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 5010, Level = LogLevel.Information, Message = "sql manager {Name}: watching {Nodes} nodes every {IntervalMs} ms; proxy writes {Write}, reads {Read}; {Managers} manager(s)")]
        public static partial void Started(ILogger logger, string name, int nodes, double intervalMs, string write, string read, int managers);

        [LoggerMessage(EventId = 5015, Level = LogLevel.Information, Message = "sql manager {Name}: leading; primary {Primary}; {Operation}")]
        public static partial void Leading(ILogger logger, string name, string primary, string operation);

        [LoggerMessage(EventId = 5016, Level = LogLevel.Information, Message = "sql manager {Name}: not leading (leader {Leader}); standing by")]
        public static partial void NotLeader(ILogger logger, string name, string leader);

        [LoggerMessage(EventId = 5017, Level = LogLevel.Warning, Message = "sql manager {Name}: lost leadership, stopped acting: {Reason}")]
        public static partial void LostLeadership(ILogger logger, string name, string reason);

        [LoggerMessage(EventId = 5011, Level = LogLevel.Warning, Message = "sql: {Action} failed: {Error}")]
        public static partial void ActionFailed(ILogger logger, string action, string error);

        [LoggerMessage(EventId = 5012, Level = LogLevel.Error, Message = "sql: check round failed")]
        public static partial void RoundFailed(ILogger logger, Exception e);

        [LoggerMessage(EventId = 5013, Level = LogLevel.Information, Message = "sql {Kind} done: {Old} -> {New} in {Ms:0} ms")]
        public static partial void OperationDone(ILogger logger, OperationKind kind, string old, string @new, double ms);

        [LoggerMessage(EventId = 5014, Level = LogLevel.Error, Message = "sql {Kind} {Old} -> {New} failed: {Error}")]
        public static partial void OperationFailed(ILogger logger, OperationKind kind, string old, string @new, string error);
    }
}
