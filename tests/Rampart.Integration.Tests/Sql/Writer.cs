using System.Collections.Concurrent;
using System.Diagnostics;
using MySqlConnector;
using Rampart.Linux;

namespace Rampart.Integration.Tests.Sql;

/// <summary>
/// The application: inserts strictly increasing ids through the proxy's write endpoint every few ms,
/// autocommit, and records which inserts were acknowledged and when; reconnects on any error.
/// (Same idea as shared/reference/mariadb/writer.py.)
/// </summary>
public sealed class Writer : IAsyncDisposable
{
    private readonly int _port;
    private readonly CancellationTokenSource _stop = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly ConcurrentQueue<(long Id, double AtMs)> _acked = new();
    private readonly Task _loop;
    private long _next;
    private int _errors;

    private readonly NetworkNamespace? _namespace;

    /// <param name="inside">Connect from inside this namespace (the proxy listens on its loopback).</param>
    public Writer(int port, TimeSpan interval, NetworkNamespace? inside = null)
    {
        _port = port;
        _namespace = inside;
        _loop = Task.Run(() => LoopAsync(interval));
    }

    public IReadOnlyList<(long Id, double AtMs)> Acked => [.. _acked];
    public int Errors => _errors;
    public double NowMs => _clock.Elapsed.TotalMilliseconds;

    /// <summary>Longest time between two consecutive acknowledged commits.</summary>
    public double LongestGapMs()
    {
        var acked = Acked;
        double gap = 0;
        for (int i = 1; i < acked.Count; i++) gap = Math.Max(gap, acked[i].AtMs - acked[i - 1].AtMs);
        return gap;
    }

    public int AckedSince(double ms) => Acked.Count(a => a.AtMs > ms);

    private async Task LoopAsync(TimeSpan interval)
    {
        var cs = new MySqlConnectionStringBuilder
        {
            Server = "127.0.0.1",
            Port = (uint)_port,
            UserID = MariaDbLab.AppUser,
            Password = MariaDbLab.AppPassword,
            Database = "dbha",
            Pooling = false,
            ConnectionTimeout = 20,
            DefaultCommandTimeout = 20,
        }.ConnectionString;
        MySqlConnection? c = null;
        while (!_stop.IsCancellationRequested)
        {
            long id = Interlocked.Increment(ref _next);
            try
            {
                if (c is null)
                {
                    c = new MySqlConnection(cs);
                    if (_namespace is null) await c.OpenAsync(_stop.Token);
                    else
                    {
                        // The socket is created by the thread that entered the namespace and stays in it.
                        var opening = c;
                        _namespace.Enter(() => opening.Open());
                    }
                }
                await using var cmd = new MySqlCommand("INSERT INTO writes (wid) VALUES (@id)", c);
                cmd.Parameters.AddWithValue("@id", id);
                await cmd.ExecuteNonQueryAsync(_stop.Token);
                _acked.Enqueue((id, NowMs));
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (e is MySqlException or IOException or InvalidOperationException or System.Net.Sockets.SocketException)
            {
                Interlocked.Increment(ref _errors);
                if (c is not null) await c.DisposeAsync();
                c = null;
                await Task.Delay(10);
                continue;
            }
            await Task.Delay(interval);
        }
        if (c is not null) await c.DisposeAsync();
    }

    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        await _loop;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_stop.IsCancellationRequested) await StopAsync();
        _stop.Dispose();
    }
}
