using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Rampart.Balancer;

/// <summary>
/// Connect-time redirection for clients on this host (the technique of Cilium's socket load balancing): a cgroup
/// connect4 program rewrites a connect() to a proxy endpoint into a connect() to its backend, so the connection
/// goes straight to the backend and its bytes never cross the proxy — no second TCP connection, no relay.
/// Only connects in the proxy's own network namespace to its exact address are rewritten; anything else reaches
/// the proxy as before. The program records every socket it redirected, so a backend's removal can abort them
/// (sock_diag SOCK_DESTROY) as the proxy closes its own pairs. Linux x86-64, cgroup v2, root.
/// </summary>
internal sealed unsafe class ConnectRedirect
{
    private const int MaxRoutes = 256, MaxRedirected = 65536;
    private static readonly Lazy<ConnectRedirect?> s_shared = new(Create);

    private readonly int _routes;
    private readonly int _redirected;

    private ConnectRedirect(int routes, int redirected)
    {
        _routes = routes;
        _redirected = redirected;
    }

    /// <summary>The process's redirector (the program is attached once, machine-wide), or null where it cannot run.</summary>
    public static ConnectRedirect? Shared => s_shared.Value;

    private static ConnectRedirect? Create()
    {
        if (!Bpf.Supported || CgroupRoot() is not { } root) return null;
        int routes = -1, redirected = -1, prog = -1, cgroup = -1;
        try
        {
            routes = Bpf.CreateMap(Bpf.MapHash, 16, 8, MaxRoutes);
            redirected = Bpf.CreateMap(Bpf.MapLruHash, 8, 16, MaxRedirected);
            if (routes < 0 || redirected < 0) return null;
            prog = Bpf.LoadProgram(Bpf.ProgCgroupSockAddr, Bpf.AttachCgroupInet4Connect, ConnectRedirectCore.ConnectProgram(routes, redirected));
            cgroup = open(root, 0x10000 | 0x80000);   // O_DIRECTORY | O_CLOEXEC
            if (prog < 0 || cgroup < 0) return null;
            // The link's descriptor stays open for the life of the process: when it exits, the kernel detaches.
            if (Bpf.Link(prog, cgroup, Bpf.AttachCgroupInet4Connect) < 0) return null;
            var made = new ConnectRedirect(routes, redirected);
            routes = redirected = -1;
            return made;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return null; }
        finally
        {
            foreach (int fd in new[] { routes, redirected, prog, cgroup })
                if (fd >= 0) close(fd);
        }
    }

    /// <summary>The cgroup v2 hierarchy's mount point (its root cgroup holds every process), from /proc/self/mountinfo.</summary>
    private static string? CgroupRoot()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/mountinfo"))
            {
                int dash = line.IndexOf(" - ", StringComparison.Ordinal);
                if (dash < 0 || !line.AsSpan(dash + 3).StartsWith("cgroup2 ")) continue;
                return line.Split(' ')[4];
            }
        }
        catch (IOException) { }
        return null;
    }

    /// <summary>The network namespace a socket lives in (SO_NETNS_COOKIE), as the program sees its connects'.</summary>
    public static ulong NetnsCookie(Socket s)
    {
        Span<byte> v = stackalloc byte[8];
        s.GetRawSocketOption(1, 71, v);   // SOL_SOCKET, SO_NETNS_COOKIE
        return BinaryPrimitives.ReadUInt64LittleEndian(v);
    }

    /// <summary>Sends new connects to <paramref name="endpoint"/> in namespace <paramref name="netns"/> to
    /// <paramref name="backend"/>, or (null) lets them reach the proxy again.</summary>
    public bool Route(ulong netns, IPEndPoint endpoint, IPEndPoint? backend)
    {
        fixed (byte* key = ConnectRedirectCore.RouteKey(netns, endpoint))
        {
            if (backend is null) { Bpf.Delete(_routes, key); return true; }
            fixed (byte* value = ConnectRedirectCore.Endpoint(backend))
                return Bpf.Update(_routes, key, value);
        }
    }

    /// <summary>
    /// Aborts the connections this program redirected from <paramref name="endpoint"/> to <paramref name="backend"/>
    /// that live in this process's network namespace (their owners see ECONNABORTED, as a proxied client sees its
    /// pair closed). Returns how many.
    /// </summary>
    public int Abort(IPEndPoint endpoint, IPEndPoint backend)
    {
        var target = ConnectRedirectCore.Endpoint(backend);
        var expected = ConnectRedirectCore.Record(backend, endpoint);
        int aborted = 0;
        int fd = socket(16, 3 | 0x80000, 4);                                // AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG
        if (fd < 0) return 0;
        using var diag = new Socket(new SafeSocketHandle(fd, ownsHandle: true));
        foreach (var id in TcpSocketsTo(diag, target))
        {
            var recorded = new byte[16];
            fixed (byte* key = id.AsSpan(40, 8), value = recorded)
            {
                if (!Bpf.Lookup(_redirected, key, value) || !recorded.AsSpan().SequenceEqual(expected)) continue;
                if (Destroy(diag, id)) aborted++;
                Bpf.Delete(_redirected, key);
            }
        }
        return aborted;
    }

    // inet_diag_req_v2: family, protocol, ext, pad, states, then the 48-byte inet_diag_sockid.
    private static byte[] Request(ushort type, ushort flags, ReadOnlySpan<byte> id)
    {
        var m = new byte[16 + 56];
        BinaryPrimitives.WriteUInt32LittleEndian(m, (uint)m.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(m.AsSpan(4), type);
        BinaryPrimitives.WriteUInt16LittleEndian(m.AsSpan(6), flags);
        m[16] = 2;                                                        // AF_INET
        m[17] = 6;                                                        // IPPROTO_TCP
        BinaryPrimitives.WriteUInt32LittleEndian(m.AsSpan(20), uint.MaxValue);   // every TCP state
        id.CopyTo(m.AsSpan(24));
        return m;
    }

    /// <summary>The inet_diag_sockid of every IPv4 TCP socket connected to <paramref name="target"/> (address, port).</summary>
    private static List<byte[]> TcpSocketsTo(Socket diag, byte[] target)
    {
        diag.Send(Request(20, 0x301, []));                                 // SOCK_DIAG_BY_FAMILY, REQUEST | DUMP
        var found = new List<byte[]>();
        var buffer = new byte[64 * 1024];
        while (true)
        {
            int n = diag.Receive(buffer);
            for (int at = 0; at + 16 <= n;)
            {
                int len = (int)BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(at));
                ushort type = BinaryPrimitives.ReadUInt16LittleEndian(buffer.AsSpan(at + 4));
                if (type is 2 or 3 || len < 16) return found;                // NLMSG_ERROR, NLMSG_DONE
                // inet_diag_msg: family, state, timer, retrans, then the sockid: sport, dport, src[16], dst[16], if, cookie.
                var id = buffer.AsSpan(at + 20, 48);
                if (len >= 16 + 52 && id.Slice(20, 4).SequenceEqual(target.AsSpan(0, 4)) && id.Slice(2, 2).SequenceEqual(target.AsSpan(4, 2)))
                    found.Add(id.ToArray());
                at += (len + 3) & ~3;
            }
        }
    }

    private static bool Destroy(Socket diag, byte[] id)
    {
        diag.Send(Request(21, 0x5, id));                                  // SOCK_DESTROY, REQUEST | ACK
        var reply = new byte[1024];
        int n = diag.Receive(reply);
        return n >= 20 && BinaryPrimitives.ReadUInt16LittleEndian(reply.AsSpan(4)) == 2 && BinaryPrimitives.ReadInt32LittleEndian(reply.AsSpan(16)) == 0;
    }

    [DllImport("libc", SetLastError = true)] private static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);
    [DllImport("libc", SetLastError = true)] private static extern int close(int fd);
    [DllImport("libc", SetLastError = true)] private static extern int socket(int domain, int type, int protocol);
}
