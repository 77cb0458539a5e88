using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Rampart.Balancer;

/// <summary>
/// Relays established socket pairs inside the kernel (Linux BPF sockhash + sk_skb verdict program, x86-64):
/// every segment one socket receives is sent out of its peer by the kernel, so relayed bytes never wake this
/// process. A request/response protocol (MySQL) otherwise pays a user-space wake-up, a receive and a send on
/// every message, which on a busy 2-core machine cost a third of the throughput.
/// One thread watches the pairs for their end with EPOLLRDHUP only: arriving data raises EPOLLIN, which that mask
/// filters out in the kernel, so the watcher wakes once per connection, not per message.
/// </summary>
internal sealed unsafe class KernelRelay
{
    private const int MaxPairs = 32768;
    private static readonly Lazy<KernelRelay?> s_shared = new(Create);

    private readonly int _map;
    private readonly int _epoll;
    private readonly Lock _lock = new();
    private readonly Dictionary<long, Pair> _pairs = [];
    private readonly List<Pair> _draining = [];
    private long _nextId;

    private KernelRelay(int map, int epoll)
    {
        _map = map;
        _epoll = epoll;
        new Thread(Watch) { IsBackground = true, Name = "proxy-relay-watch" }.Start();
    }

    /// <summary>The process's relay (the map and program are kernel-wide objects), or null where it cannot run:
    /// not Linux x86-64, or no permission for BPF (CAP_BPF + CAP_NET_ADMIN).</summary>
    public static KernelRelay? Shared => s_shared.Value;

    private static KernelRelay? Create()
    {
        if (!Bpf.Supported) return null;
        int map = -1, prog = -1;
        try
        {
            // sockhash: key = socket cookie (u64), value = socket fd
            map = Bpf.CreateMap(Bpf.MapSockHash, 8, 4, MaxPairs * 2);
            if (map < 0) return null;
            prog = Bpf.LoadProgram(Bpf.ProgSkSkb, Bpf.AttachSkSkbVerdict, KernelRelayCore.VerdictProgram(map));   // no stream parser
            if (prog < 0) { Native.close(map); return null; }
            uint* attach = stackalloc uint[4] { (uint)map, (uint)prog, Bpf.AttachSkSkbVerdict, 0 };   // BPF_PROG_ATTACH to the map
            int attached = Bpf.Call(8, attach, 16);
            Native.close(prog);                                  // the map holds the program now
            if (attached < 0) { Native.close(map); return null; }
            int epoll = Native.epoll_create1(0x80000);           // EPOLL_CLOEXEC
            if (epoll < 0) { Native.close(map); return null; }
            return new KernelRelay(map, epoll);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return null; }
    }

    /// <summary>
    /// Hands an established client/backend pair to the kernel. Returns a task that completes when either side
    /// ends (its peer closed or reset it), or null if the pair could not be joined (map full, a socket already
    /// closing): the caller then relays it itself. <see cref="Leave"/> must run before the sockets are closed.
    /// </summary>
    public Task? TryJoin(Socket client, Socket server, out long id)
    {
        id = 0;
        var pair = new Pair(client, server);
        ulong clientCookie, serverCookie;
        try
        {
            pair.WrittenAtJoin[0] = Written(client);
            pair.WrittenAtJoin[1] = Written(server);
            clientCookie = Cookie(client);
            serverCookie = Cookie(server);
            // First map[server] = client, which makes the client socket relay (it is silent: a MySQL client waits
            // for the greeting), then map[client] = server, after which the backend's bytes flow at once.
            if (!Put(serverCookie, client)) return null;
            if (!Put(clientCookie, server)) { Delete(serverCookie); return null; }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException) { return null; }
        lock (_lock)
        {
            pair.Id = id = ++_nextId;
            _pairs[id] = pair;
            bool watched;
            try { watched = Watch(client, (id << 1) | 0) && Watch(server, (id << 1) | 1); }
            catch (ObjectDisposedException) { watched = false; }
            if (!watched)
            {
                LeaveLocked(pair);
                Delete(clientCookie);
                Delete(serverCookie);
                id = 0;
                return null;
            }
        }
        // Bytes that arrived before the pair joined (the backend's greeting) wait in the receive queue:
        // a non-blocking read sends them through the program; a kernel that hands them to us instead gets
        // them forwarded here.
        try
        {
            if (!Kick(client, server) || !Kick(server, client)) Leave(id);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException) { Leave(id); }
        return pair.Ended.Task;
    }

    /// <summary>Forgets the pair (idempotent) and completes its task; after this its sockets may be closed.</summary>
    public void Leave(long id)
    {
        lock (_lock)
            if (_pairs.TryGetValue(id, out var pair)) LeaveLocked(pair);
    }

    private void LeaveLocked(Pair pair)
    {
        _pairs.Remove(pair.Id);
        _draining.Remove(pair);
        Unwatch(pair);
        pair.Ended.TrySetResult();
    }

    private void Watch()
    {
        const int Max = 64;
        var events = stackalloc Native.EpollEvent[Max];
        while (true)
        {
            int timeout;
            lock (_lock) timeout = _draining.Count > 0 ? 1 : -1;
            int n = Native.epoll_wait(_epoll, events, Max, timeout);
            for (int i = 0; i < n; i++)
            {
                long id = (long)(events[i].Data >> 1);
                int side = (int)(events[i].Data & 1);
                lock (_lock)
                {
                    if (!_pairs.TryGetValue(id, out var pair) || pair.DrainingSide >= 0) continue;
                    // A reset or error: nothing more can be delivered. A FIN: wait for the bytes before it.
                    if ((events[i].Events & (Native.EPOLLERR | Native.EPOLLHUP)) != 0) { LeaveLocked(pair); continue; }
                    Unwatch(pair);   // level-triggered: stop the FIN from waking us again while draining
                    pair.DrainingSide = side;
                    pair.DrainDeadline = Environment.TickCount64 + 2000;
                    _draining.Add(pair);
                }
            }
            Pair[] draining;
            lock (_lock) draining = [.. _draining];
            foreach (var pair in draining)
                if (IsDrained(pair) || Environment.TickCount64 > pair.DrainDeadline) Leave(pair.Id);
        }
    }

    private static bool IsDrained(Pair pair)
    {
        int from = pair.DrainingSide, to = 1 - from;
        try
        {
            return KernelRelayCore.Drained(BytesReceived(pair.Sockets[from]), Written(pair.Sockets[to]), pair.WrittenAtJoin[to]);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException) { return true; }
    }

    private bool Kick(Socket from, Socket to)
    {
        var buffer = new byte[16 * 1024];
        while (true)
        {
            long n;
            using (var fd = new Fd(from))
                fixed (byte* b = buffer) n = Native.recv(fd.Value, b, buffer.Length, 0x40);   // MSG_DONTWAIT
            if (n > 0) { to.Send(buffer.AsSpan(0, (int)n)); continue; }
            if (n == 0) return false;                        // the end already
            int errno = Marshal.GetLastPInvokeError();
            if (errno == 4) continue;                        // EINTR
            return errno == 11;                              // EAGAIN: nothing (more) waiting
        }
    }

    private bool Watch(Socket s, long data)
    {
        var ev = new Native.EpollEvent { Events = Native.EPOLLRDHUP, Data = (ulong)data };
        using var fd = new Fd(s);
        return Native.epoll_ctl(_epoll, 1, fd.Value, &ev) == 0;   // EPOLL_CTL_ADD
    }

    private void Unwatch(Pair pair)
    {
        foreach (var s in pair.Sockets)
        {
            try
            {
                using var fd = new Fd(s);
                Native.epoll_ctl(_epoll, 2, fd.Value, null);   // EPOLL_CTL_DEL
            }
            catch (ObjectDisposedException) { }               // closed: the kernel dropped it from the set
        }
    }

    private bool Put(ulong key, Socket value)
    {
        using var fd = new Fd(value);
        uint v = (uint)fd.Value;
        return Bpf.Update(_map, &key, &v);
    }

    private void Delete(ulong key) => Bpf.Delete(_map, &key);

    private static ulong Cookie(Socket s)
    {
        Span<byte> v = stackalloc byte[8];
        s.GetRawSocketOption(1, 57, v);   // SOL_SOCKET, SO_COOKIE
        return BitConverter.ToUInt64(v);
    }

    /// <summary>Bytes ever written into the socket: acknowledged plus still queued (tcpi_bytes_acked + SIOCOUTQ).</summary>
    private static ulong Written(Socket s)
    {
        Span<byte> info = stackalloc byte[232];
        s.GetRawSocketOption(6, 11, info);                                        // IPPROTO_TCP, TCP_INFO
        ulong acked = BitConverter.ToUInt64(info[120..]);                          // tcpi_bytes_acked
        int queued = 0;
        using (var fd = new Fd(s))
            if (Native.ioctl(fd.Value, 0x5411, &queued) < 0) throw new SocketException(Marshal.GetLastPInvokeError());   // SIOCOUTQ
        return acked + (ulong)queued;
    }

    private static ulong BytesReceived(Socket s)
    {
        Span<byte> info = stackalloc byte[232];
        s.GetRawSocketOption(6, 11, info);
        return BitConverter.ToUInt64(info[128..]);                                 // tcpi_bytes_received
    }

    /// <summary>A socket's descriptor, held open while in use (a concurrent close cannot hand its number to
    /// another socket meanwhile); throws ObjectDisposedException once the socket is closed.</summary>
    private readonly ref struct Fd
    {
        private readonly SafeHandle _handle;
        public readonly int Value;

        public Fd(Socket s)
        {
            _handle = s.SafeHandle;
            bool added = false;
            _handle.DangerousAddRef(ref added);
            Value = (int)_handle.DangerousGetHandle();
        }

        public void Dispose() => _handle.DangerousRelease();
    }

    private sealed class Pair(Socket client, Socket server)
    {
        public long Id;
        public readonly Socket[] Sockets = [client, server];
        public readonly ulong[] WrittenAtJoin = new ulong[2];
        public readonly TaskCompletionSource Ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public int DrainingSide = -1;
        public long DrainDeadline;
    }

    private static class Native
    {
        public const uint EPOLLERR = 0x008, EPOLLHUP = 0x010, EPOLLRDHUP = 0x2000;

        [StructLayout(LayoutKind.Sequential, Pack = 4)]   // packed on x86-64: 12 bytes
        public struct EpollEvent { public uint Events; public ulong Data; }

        [DllImport("libc", SetLastError = true)] public static extern int epoll_create1(int flags);
        [DllImport("libc", SetLastError = true)] public static extern int epoll_ctl(int epfd, int op, int fd, EpollEvent* ev);
        [DllImport("libc", SetLastError = true)] public static extern int epoll_wait(int epfd, EpollEvent* events, int max, int timeout);
        [DllImport("libc", SetLastError = true)] public static extern nint recv(int fd, byte* buf, nint len, int flags);
        [DllImport("libc", SetLastError = true)] public static extern int ioctl(int fd, ulong request, int* arg);
        [DllImport("libc", SetLastError = true)] public static extern int close(int fd);
    }
}
