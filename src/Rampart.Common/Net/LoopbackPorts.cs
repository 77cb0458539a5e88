using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Rampart.Common.Net;

/// <summary>
/// Picks listening ports on 127.0.0.1 for configs written now and bound later. The ports come from below the
/// kernel's ephemeral range: a port the kernel handed out (bind to 0) can be taken again as the source port of any
/// outgoing connection before the daemon binds it, which made a daemon fail with "Address already in use".
/// </summary>
public static class LoopbackPorts
{
    private const int Lowest = 10000;
    private static readonly HashSet<int> Handed = [];

    /// <summary><paramref name="count"/> distinct free ports; with <paramref name="alsoFreeAt"/>, port + that offset is free too.</summary>
    public static int[] Free(int count, int? alsoFreeAt = null)
    {
        int offset = alsoFreeAt ?? 0;
        int highest = EphemeralLow() - 1 - offset;
        if (highest - Lowest < 100 * count) // random picks would rarely find one; a range this small is a setup error
            throw new InvalidOperationException($"too few ports below the ephemeral range for {count} listeners");
        var ports = new List<int>(count);
        lock (Handed)
        {
            while (ports.Count < count)
            {
                int port = Random.Shared.Next(Lowest, highest + 1);
                if (Handed.Contains(port) || Handed.Contains(port + offset) || !Bindable(port) || !Bindable(port + offset))
                    continue;
                Handed.Add(port);
                Handed.Add(port + offset);
                ports.Add(port);
            }
        }
        return [.. ports];
    }

    private static int EphemeralLow()
    {
        try
        {
            string range = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range");
            return int.Parse(range.Split((char[])['\t', ' '], StringSplitOptions.RemoveEmptyEntries)[0], CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return 32768; // Linux's default
        }
    }

    private static bool Bindable(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
