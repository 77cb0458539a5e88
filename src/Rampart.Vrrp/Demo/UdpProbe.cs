using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Rampart.Vrrp.Demo;

/// <summary>A UDP service that answers every datagram with its own name: which router holds the VIP.</summary>
public static class UdpEcho
{
    public static async Task RunAsync(string name, int port, CancellationToken token)
    {
        using var socket = new Socket(AddressFamily.InterNetworkV6, SocketType.Dgram, ProtocolType.Udp) { DualMode = true };
        // Bound to any address, so it answers on the VIP as soon as the VIP is configured.
        socket.Bind(new IPEndPoint(IPAddress.IPv6Any, port));
        var reply = Encoding.ASCII.GetBytes(name);
        var buffer = new byte[512];
        EndPoint any = new IPEndPoint(IPAddress.IPv6Any, 0);
        while (!token.IsCancellationRequested)
        {
            SocketReceiveFromResult received;
            try { received = await socket.ReceiveFromAsync(buffer, SocketFlags.None, any, token); }
            catch (OperationCanceledException) { return; }
            catch (SocketException) { continue; }
            try { await socket.SendToAsync(reply, SocketFlags.None, received.RemoteEndPoint, token); }
            catch (SocketException) { }
        }
    }
}

/// <summary>One probe: when it was sent, and who answered (null: no answer within the timeout).</summary>
public readonly record struct ProbeResult(TimeSpan SentAt, string? Responder);

/// <summary>
/// A client that sends a UDP probe to the VIP every interval and records who answers; the service gap of a
/// failover is the time between the last answered probe before it and the first answered probe after it.
/// </summary>
public sealed class UdpProber : IDisposable
{
    private readonly Socket _socket;
    private readonly IPEndPoint _target;
    private readonly List<ProbeResult> _results = [];
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    /// <param name="socket">A UDP socket, created in the client's network namespace.</param>
    public UdpProber(Socket socket, IPEndPoint target)
    {
        _socket = socket;
        _target = target;
    }

    public TimeSpan Elapsed => _clock.Elapsed;

    public IReadOnlyList<ProbeResult> Snapshot() { lock (_results) return _results.ToArray(); }

    public string? LastResponder { get { lock (_results) return _results.LastOrDefault(r => r.Responder is not null).Responder; } }

    public static Socket CreateSocket(AddressFamily family) => new(family, SocketType.Dgram, ProtocolType.Udp);

    /// <summary>Probes until cancelled: every probe carries a sequence number so late answers are not miscounted.</summary>
    public async Task RunAsync(TimeSpan interval, TimeSpan timeout, CancellationToken token)
    {
        var buffer = new byte[512];
        int sequence = 0;
        var next = _clock.Elapsed;
        while (!token.IsCancellationRequested)
        {
            var sentAt = _clock.Elapsed;
            string tag = (++sequence).ToString();
            string? responder = null;
            try
            {
                await _socket.SendToAsync(Encoding.ASCII.GetBytes(tag), SocketFlags.None, _target, token);
                using var wait = CancellationTokenSource.CreateLinkedTokenSource(token);
                wait.CancelAfter(timeout);
                while (responder is null)
                {
                    int n = await _socket.ReceiveAsync(buffer, SocketFlags.None, wait.Token);
                    responder = Encoding.ASCII.GetString(buffer, 0, n);
                }
            }
            catch (OperationCanceledException) when (!token.IsCancellationRequested) { }
            catch (OperationCanceledException) { return; }
            catch (SocketException) { }   // e.g. unreachable while nobody holds the VIP
            lock (_results) _results.Add(new ProbeResult(sentAt, responder));
            next += interval;
            var delay = next - _clock.Elapsed;
            if (delay > TimeSpan.Zero)
            {
                try { await Task.Delay(delay, token); } catch (OperationCanceledException) { return; }
            }
            else next = _clock.Elapsed;
        }
    }

    /// <summary>Longest run of unanswered probes after "from": (last answer before, first answer after, who answered after).</summary>
    public static (TimeSpan Gap, int Lost, string? After) Gap(IReadOnlyList<ProbeResult> results, TimeSpan from)
    {
        TimeSpan lastOk = from, gap = TimeSpan.Zero;
        int lost = 0, run = 0;
        string? after = null;
        foreach (var r in results.Where(r => r.SentAt >= from))
        {
            if (r.Responder is null) { run++; continue; }
            if (r.SentAt - lastOk > gap && run > 0) { gap = r.SentAt - lastOk; after = r.Responder; }
            lost += run;
            run = 0;
            lastOk = r.SentAt;
        }
        return (gap, lost, after);
    }

    public void Dispose() => _socket.Dispose();
}
