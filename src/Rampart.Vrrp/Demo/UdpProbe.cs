using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Rampart.Vrrp.Demo;

/// <summary>A UDP service that answers every datagram with "NAME PAYLOAD": which router holds the VIP, for which probe.</summary>
public static class UdpEcho
{
    public static async Task RunAsync(string name, int port, CancellationToken token)
    {
        using var socket = new Socket(AddressFamily.InterNetworkV6, SocketType.Dgram, ProtocolType.Udp) { DualMode = true };
        // Bound to any address, so it answers on the VIP as soon as the VIP is configured.
        socket.Bind(new IPEndPoint(IPAddress.IPv6Any, port));
        var prefix = Encoding.ASCII.GetBytes(name + " ");
        var buffer = new byte[512];
        var reply = new byte[prefix.Length + buffer.Length];
        prefix.CopyTo(reply, 0);
        EndPoint any = new IPEndPoint(IPAddress.IPv6Any, 0);
        while (!token.IsCancellationRequested)
        {
            SocketReceiveFromResult received;
            try { received = await socket.ReceiveFromAsync(buffer, SocketFlags.None, any, token); }
            catch (OperationCanceledException) { return; }
            catch (SocketException) { continue; }
            buffer.AsSpan(0, received.ReceivedBytes).CopyTo(reply.AsSpan(prefix.Length));
            try { await socket.SendToAsync(reply.AsMemory(0, prefix.Length + received.ReceivedBytes), SocketFlags.None, received.RemoteEndPoint, token); }
            catch (SocketException) { }
        }
    }

    /// <summary>The responder's name in an answer.</summary>
    public static string NameOf(ReadOnlySpan<byte> answer)
    {
        int space = answer.IndexOf((byte)' ');
        return Encoding.ASCII.GetString(space < 0 ? answer : answer[..space]);
    }
}

/// <summary>One probe: when it was sent, and who answered (null: no answer within the timeout).</summary>
public readonly record struct ProbeResult(TimeSpan SentAt, string? Responder);

/// <summary>
/// A client that sends a numbered UDP probe to the VIP every interval, whatever happened to the previous ones,
/// and records who answered each within the timeout. The service gap of a failover is the time between the
/// last answered probe before it and the first answered probe after it (resolution: the interval).
/// </summary>
public sealed class UdpProber : IDisposable
{
    private readonly Socket _socket;
    private readonly IPEndPoint _target;
    private readonly List<(TimeSpan SentAt, string? Responder)> _probes = [];
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private TimeSpan _timeout = TimeSpan.FromMilliseconds(50);

    /// <param name="socket">A UDP socket, created in the client's network namespace.</param>
    public UdpProber(Socket socket, IPEndPoint target)
    {
        _socket = socket;
        _target = target;
    }

    public TimeSpan Elapsed => _clock.Elapsed;

    /// <summary>Every probe whose outcome is known (answered, or older than the timeout).</summary>
    public IReadOnlyList<ProbeResult> Snapshot()
    {
        var settled = _clock.Elapsed - _timeout;
        lock (_probes) return _probes.Where(p => p.Responder is not null || p.SentAt < settled).Select(p => new ProbeResult(p.SentAt, p.Responder)).ToArray();
    }

    public string? LastResponder { get { lock (_probes) return _probes.LastOrDefault(p => p.Responder is not null).Responder; } }

    public static Socket CreateSocket(AddressFamily family) => new(family, SocketType.Dgram, ProtocolType.Udp);

    public async Task RunAsync(TimeSpan interval, TimeSpan timeout, CancellationToken token)
    {
        _timeout = timeout;
        var receiving = ReceiveAsync(token);
        int sequence = 0;
        var next = _clock.Elapsed;
        try
        {
            while (!token.IsCancellationRequested)
            {
                lock (_probes) _probes.Add((_clock.Elapsed, null));
                try { await _socket.SendToAsync(Encoding.ASCII.GetBytes((sequence++).ToString(CultureInfo.InvariantCulture)), SocketFlags.None, _target, token); }
                catch (SocketException) { }   // e.g. unreachable while nobody holds the VIP: that probe is lost
                next += interval;
                var delay = next - _clock.Elapsed;
                if (delay > TimeSpan.Zero) await Task.Delay(delay, token);
                else next = _clock.Elapsed;
            }
        }
        catch (OperationCanceledException) { }
        await receiving;
    }

    private async Task ReceiveAsync(CancellationToken token)
    {
        var buffer = new byte[512];
        while (!token.IsCancellationRequested)
        {
            int n;
            try { n = await _socket.ReceiveAsync(buffer, SocketFlags.None, token); }
            catch (OperationCanceledException) { return; }
            catch (SocketException) { continue; }   // ICMP errors surface here
            var answer = buffer.AsSpan(0, n);
            int space = answer.IndexOf((byte)' ');
            if (space < 0 || !int.TryParse(answer[(space + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out int sequence)) continue;
            var now = _clock.Elapsed;
            lock (_probes)
            {
                if (sequence >= _probes.Count || now - _probes[sequence].SentAt > _timeout) continue;   // late answers count as lost
                _probes[sequence] = (_probes[sequence].SentAt, UdpEcho.NameOf(answer));
            }
        }
    }

    /// <summary>Longest run of unanswered probes after "from": its length (last answer before to first answer after), probes lost, who answered after.</summary>
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
