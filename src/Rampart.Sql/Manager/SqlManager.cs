using System.Net.Sockets;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Rampart.Balancer;
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
    private readonly FailoverMachine _machine;
    private readonly ActionExecutor _executor;
    private readonly TcpProxy? _writeProxy;
    private readonly TcpProxy? _readProxy;
    private readonly TcpListener? _control;
    private readonly CancellationTokenSource _stop = new();
    private readonly Channel<(ControlRequest Request, TaskCompletionSource<ControlReply> Reply)> _requests = Channel.CreateUnbounded<(ControlRequest, TaskCompletionSource<ControlReply>)>();
    private readonly List<Task> _tasks = [];
    private volatile SqlStatus _status;

    private SqlManager(SqlConfig config, string name, ILoggerFactory logs, TimeProvider time)
    {
        _config = config;
        _name = name;
        _time = time;
        _logger = logs.CreateLogger("Rampart.Sql.Manager");
        _probe = new NodeProbe(config);
        _machine = new FailoverMachine(config);
        _executor = new ActionExecutor(config, _probe, this, time, _logger);
        var proxyLog = logs.CreateLogger("Rampart.Balancer.TcpProxy");
        try
        {
            if (config.ProxyWrite is { } w) _writeProxy = new TcpProxy("sql-write", w, config.ProxyHold, proxyLog);
            if (config.ProxyRead is { } r) _readProxy = new TcpProxy("sql-read", r, config.ProxyHold, proxyLog);
            if (config.Managers.FirstOrDefault(m => m.Name == name) is { } me)
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
        _status = SqlStatus.From(name, config, _machine, null);
    }

    public SqlStatus Status => _status;

    /// <summary>Starts the manager named <paramref name="name"/> (its [sql.manager.NAME] gives the control endpoint; may be absent).</summary>
    public static Task<SqlManager> StartAsync(SqlConfig config, string name, ILoggerFactory logs, TimeProvider? time = null, CancellationToken cancellationToken = default)
    {
        var manager = new SqlManager(config, name, logs, time ?? TimeProvider.System);
        manager._tasks.Add(manager.LoopAsync(manager._stop.Token));
        if (manager._control is not null)
            manager._tasks.Add(SqlControl.ServeAsync(manager._control, manager.HandleAsync, manager._stop.Token));
        Log.Started(manager._logger, name, config.Nodes.Count, config.CheckInterval.TotalMilliseconds, config.ProxyWrite?.ToString() ?? "-", config.ProxyRead?.ToString() ?? "-");
        return Task.FromResult(manager);
    }

    private async Task LoopAsync(CancellationToken token)
    {
        while (!token.IsCancellationRequested)
        {
            var started = _time.GetTimestamp();
            try
            {
                var round = await _probe.RoundAsync(_time, token).ConfigureAwait(false);
                var actions = _machine.OnRound(round, out var plan);
                foreach (var action in actions)
                    if (await _executor.ExecuteAsync(action, token).ConfigureAwait(false) is { } error)
                        Log.ActionFailed(_logger, ActionExecutor.Describe(action), error);
                if (plan is not null)
                    await RunAsync(plan, token).ConfigureAwait(false);
                _status = SqlStatus.From(_name, _config, _machine, round);

                while (_requests.Reader.TryRead(out var request))
                    request.Reply.TrySetResult(await SwitchoverAsync(request.Request.To, token).ConfigureAwait(false));
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                return;
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

    private async Task<OperationResult> RunAsync(FailoverPlan plan, CancellationToken token)
    {
        var result = await _executor.RunPlanAsync(plan, token).ConfigureAwait(false);
        _machine.OnOperationFinished(result);
        var total = result.Timeline.Sum(t => t.Ms);
        if (result.Succeeded) Log.OperationDone(_logger, plan.Kind, plan.OldPrimary, plan.Candidate, total);
        else Log.OperationFailed(_logger, plan.Kind, plan.OldPrimary, plan.Candidate, result.Error ?? "");
        return result;
    }

    private async Task<ControlReply> SwitchoverAsync(string? to, CancellationToken token)
    {
        var round = await _probe.RoundAsync(_time, token).ConfigureAwait(false);
        var plan = _machine.RequestSwitchover(round, to, out var error);
        if (plan is null) return new ControlReply(false, error);
        var result = await RunAsync(plan, token).ConfigureAwait(false);
        _status = SqlStatus.From(_name, _config, _machine, await _probe.RoundAsync(_time, token).ConfigureAwait(false));
        return result.Succeeded ? new ControlReply(true, Status: _status) : new ControlReply(false, result.Error, _status);
    }

    private async Task<ControlReply> HandleAsync(ControlRequest request, CancellationToken token)
    {
        switch (request.Op)
        {
            case "status":
                return new ControlReply(true, Status: _status);
            case "switchover":
                var reply = new TaskCompletionSource<ControlReply>(TaskCreationOptions.RunContinuationsAsynchronously);
                await _requests.Writer.WriteAsync((request, reply), token).ConfigureAwait(false);
                return await reply.Task.WaitAsync(token).ConfigureAwait(false);
            default:
                return new ControlReply(false, $"unknown op '{request.Op}' (status, switchover)");
        }
    }

    void IRouter.RouteWrites(SqlNodeConfig? node) =>
        _writeProxy?.SetBackends(node is null ? [] : [Endpoint(node)]);

    void IRouter.RouteReads(IReadOnlyList<SqlNodeConfig> nodes) =>
        _readProxy?.SetBackends([.. nodes.Select(Endpoint)]);

    private static System.Net.IPEndPoint Endpoint(SqlNodeConfig node) =>
        System.Net.IPAddress.TryParse(node.Host, out var ip) ? new(ip, node.Port)
            : new(System.Net.Dns.GetHostAddresses(node.Host).First(a => a.AddressFamily == AddressFamily.InterNetwork), node.Port);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _control?.Stop();
        foreach (var (_, reply) in DrainRequests()) reply.TrySetResult(new ControlReply(false, "manager stopping"));
        try { await Task.WhenAll(_tasks).ConfigureAwait(false); } catch (OperationCanceledException) { }
        if (_writeProxy is not null) await _writeProxy.DisposeAsync().ConfigureAwait(false);
        if (_readProxy is not null) await _readProxy.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
    }

    private IEnumerable<(ControlRequest, TaskCompletionSource<ControlReply>)> DrainRequests()
    {
        while (_requests.Reader.TryRead(out var r)) yield return r;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 5010, Level = LogLevel.Information, Message = "sql manager {Name}: watching {Nodes} nodes every {IntervalMs} ms; proxy writes {Write}, reads {Read}")]
        public static partial void Started(ILogger logger, string name, int nodes, double intervalMs, string write, string read);

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
