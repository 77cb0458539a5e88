using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;
using Rampart.Rados.Auth;
using Rampart.Rados.Config;
using Rampart.Rados.Maps;
using Rampart.Rados.Messaging;
using Rampart.Rados.Mon;

namespace Rampart.Rados.Client;

/// <summary>A monitor request that failed for good; the message is one line, fit for the terminal.</summary>
public sealed class MonClientException(string message) : Exception(message);

/// <summary>
/// Talks to the monitors as one entity (client.admin by default). Connects to any monitor of the
/// conf, moves to the next when one is unreachable or has no quorum, and follows a follower's
/// redirect to the leader for commands. Requests retry until <see cref="Timeout"/>.
/// </summary>
public sealed class MonClient : IAsyncDisposable
{
    private static readonly ConnectionOptions Options = new()
    {
        ConnectTimeout = TimeSpan.FromSeconds(3),
        HandshakeTimeout = TimeSpan.FromSeconds(5),
        RequestTimeout = TimeSpan.FromSeconds(10),
    };

    private readonly IReadOnlyList<(string Name, IPEndPoint Address)> _monitors;
    private readonly EntityName _entity;
    private readonly byte[] _key;
    private Connection? _connection;
    private readonly SemaphoreSlim _connecting = new(1, 1); // one connection even when many tasks share the client
    private int _next;

    public MonClient(IReadOnlyList<(string Name, IPEndPoint Address)> monitors, EntityName entity, byte[] key)
    {
        if (monitors.Count == 0)
            throw new MonClientException("no monitors configured (add [mon.X] sections with mon_addr)");
        _monitors = monitors;
        _entity = entity;
        _key = key;
    }

    public EntityName Entity => _entity;

    internal byte[] Key => _key;

    /// <summary>How long one request keeps retrying through elections and failovers.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The monitors of the conf and the entity's key from its keyring (`keyring` looked up for the entity, then [global]).</summary>
    public static MonClient FromConf(RampartConf conf, string? entity = null)
    {
        if (!EntityName.TryParse(entity ?? "client.admin", out var name, out string? error))
            throw new MonClientException(error!);
        string daemon = name.ToString();
        string path = conf.Get(daemon, "keyring") is { } k ? MonitorConfig.ResolvePath(conf, k)
            : throw new MonClientException($"{conf.Path}: no keyring for {name} (set 'keyring' in [{name}] or [global])");
        if (!File.Exists(path))
            throw new MonClientException($"keyring {path} for {name}: no such file");
        var entry = Keyring.Load(path).Find(name)
            ?? throw new MonClientException($"keyring {path} has no key for {name}");
        return new MonClient(conf.Monitors, name, entry.Key);
    }

    public async Task<ClusterMap> GetMapAsync(CancellationToken cancellationToken = default) =>
        ClusterMapCodec.Decode((await RequestAsync(MonMessages.GetMap, default, cancellationToken).ConfigureAwait(false)).Payload.Span);

    /// <summary>The leader monitor's name, or null during an election.</summary>
    public async Task<string?> GetLeaderAsync(CancellationToken cancellationToken = default)
    {
        var frame = await RequestAsync(MonMessages.Leader, default, cancellationToken).ConfigureAwait(false);
        return frame.Payload.Length == 0 ? null : Encoding.UTF8.GetString(frame.Payload.Span);
    }

    /// <summary>The whole auth database as keyring text (needs mon 'allow *').</summary>
    public async Task<Keyring> GetAuthAsync(CancellationToken cancellationToken = default) =>
        Keyring.Parse(Encoding.UTF8.GetString((await RequestAsync(MonMessages.AuthList, default, cancellationToken).ConfigureAwait(false)).Payload.Span), "auth database");

    /// <summary>Runs a command on the leader (following redirects) and returns its result, success or refusal.</summary>
    public async Task<MonResult> CommandAsync(MonCommand command, CancellationToken cancellationToken = default)
    {
        var payload = MonCommandCodec.Encode(command);
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var reply = CommandReply.Decode((await RequestAsync(MonMessages.Command, payload, cancellationToken).ConfigureAwait(false)).Payload.Span);
            if (reply.Result is { } result)
                return result;
            if (clock.Elapsed > Timeout)
                throw new MonClientException($"no monitor leader within {Timeout.TotalSeconds:0} s (election not settling?)");
            // Redirect: go to the leader if named, else wait out the election where we are.
            int leader = IndexOf(reply.Redirect);
            if (leader >= 0)
            {
                await DropAsync().ConfigureAwait(false);
                _next = leader;
            }
            else
            {
                await Task.Delay(200, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private int IndexOf(string? address)
    {
        for (int i = 0; address is not null && i < _monitors.Count; i++)
        {
            if (_monitors[i].Address.ToString() == address)
                return i;
        }
        return -1;
    }

    /// <summary>One request with failover: a dead connection or a monitor without quorum sends it to the next monitor.</summary>
    private async Task<Frame> RequestAsync(ushort type, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        string last;
        while (true)
        {
            Connection connection;
            await _connecting.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                connection = await ConnectAsync(cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                _connecting.Release();
            }
            try
            {
                return await connection.RequestAsync(type, payload, cancellationToken).ConfigureAwait(false);
            }
            catch (RemoteRequestException e) when (e.Message.StartsWith("Error EAGAIN", StringComparison.Ordinal))
            {
                last = e.Message;
            }
            catch (RemoteRequestException e)
            {
                throw new MonClientException(e.Message);
            }
            catch (Exception e) when (e is ConnectionClosedException or TimeoutException or IOException or SocketException)
            {
                last = e.Message;
            }
            if (ReferenceEquals(Interlocked.CompareExchange(ref _connection, null, connection), connection))
            {
                await connection.DisposeAsync().ConfigureAwait(false);
                _next = (_next + 1) % _monitors.Count;
            }
            if (clock.Elapsed > Timeout)
                throw new MonClientException($"no monitor answered within {Timeout.TotalSeconds:0} s; last error: {last}");
            await Task.Delay(100, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The open connection, or a new one to the first monitor that accepts us, starting at <see cref="_next"/>.</summary>
    private async Task<Connection> ConnectAsync(CancellationToken cancellationToken)
    {
        if (_connection is { IsClosed: false } open)
            return open;
        var failures = new List<string>();
        string? authFailure = null;
        for (int i = 0; i < _monitors.Count; i++)
        {
            int index = (_next + i) % _monitors.Count;
            var address = _monitors[index].Address;
            try
            {
                var connection = await Connection.ConnectAsync(address, _entity, _key, Options, OnRequestAsync, cancellationToken).ConfigureAwait(false);
                // A subscription lives on one connection: carry it over when we move to another monitor.
                if (_subscribedEpoch is { } epoch)
                    await connection.RequestAsync(MonMessages.Subscribe, MonMessages.EncodeEpoch(epoch), cancellationToken).ConfigureAwait(false);
                _connection = connection;
                _next = index;
                return connection;
            }
            catch (AuthenticationException e)
            {
                // Keep trying: a monitor that has not applied a just-created entity yet says "unknown entity".
                authFailure ??= $"authentication failed for {_entity}: {Reason(e.Message)} (monitor {address})";
            }
            catch (SocketException e)
            {
                failures.Add($"{address}: {e.Message.ToLowerInvariant()}");
            }
            catch (Exception e) when (e is TimeoutException or IOException)
            {
                failures.Add($"{address}: {e.Message}");
            }
        }
        throw new MonClientException(authFailure ?? $"no monitor reachable at {string.Join(", ", failures)}");
    }

    private static string Reason(string handshakeError) =>
        handshakeError.Contains("bad key", StringComparison.Ordinal) ? "wrong key"
        : handshakeError.Contains("unknown entity", StringComparison.Ordinal) ? "unknown entity (not in the monitors' auth database)"
        : handshakeError;

    /// <summary>Map pushes arrive as requests from the monitor.</summary>
    private ValueTask<ReadOnlyMemory<byte>> OnRequestAsync(Connection connection, Frame request, CancellationToken cancellationToken)
    {
        if (request.Type != MonMessages.MapPush)
            throw new InvalidDataException($"unexpected request type 0x{request.Type:x4} from a monitor");
        var map = ClusterMapCodec.Decode(request.Payload.Span);
        if (_subscribedEpoch < map.Epoch) _subscribedEpoch = map.Epoch;
        MapReceived?.Invoke(map);
        return ValueTask.FromResult(ReadOnlyMemory<byte>.Empty);
    }

    /// <summary>Raised for every map a monitor pushes after <see cref="SubscribeAsync"/>.</summary>
    public event Action<ClusterMap>? MapReceived;

    /// <summary>Asks the monitors to push every map newer than <paramref name="epoch"/>, also after the client moves
    /// to another monitor (redirect or failover).</summary>
    public async Task SubscribeAsync(long epoch, CancellationToken cancellationToken = default)
    {
        _subscribedEpoch = epoch;
        await RequestAsync(MonMessages.Subscribe, MonMessages.EncodeEpoch(epoch), cancellationToken).ConfigureAwait(false);
    }

    private long? _subscribedEpoch;

    private async Task DropAsync()
    {
        if (_connection is { } connection)
        {
            _connection = null;
            await connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    public ValueTask DisposeAsync() => new(DropAsync());
}
