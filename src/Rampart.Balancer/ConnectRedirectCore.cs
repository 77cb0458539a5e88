using System.Buffers.Binary;
using System.Net;
using static Rampart.Balancer.Bpf;

namespace Rampart.Balancer;

/// <summary>The pure part of connect-time redirection: the cgroup connect4 program's bytes and its map records.</summary>
internal static class ConnectRedirectCore
{
    private const int HelperMapLookup = 1, HelperMapUpdate = 2, HelperGetSocketCookie = 46, HelperGetNetnsCookie = 122;

    /// <summary>
    /// The cgroup/connect4 program, run by the kernel in every connect() of an IPv4 socket on the machine:
    /// <code>
    /// if (ctx->type != SOCK_STREAM) return 1;
    /// key = { bpf_get_netns_cookie(ctx), ctx->user_ip4, ctx->user_port };   // a proxy endpoint, in its namespace
    /// backend = bpf_map_lookup_elem(routes, &amp;key);
    /// if (backend) {
    ///     ctx->user_ip4 = backend->ip; ctx->user_port = backend->port;     // connect straight to it
    ///     bpf_map_update_elem(redirected, &amp;bpf_get_socket_cookie(ctx), &amp;{ *backend, key.ip, key.port }, BPF_ANY);
    /// }
    /// return 1;                                                           // allow the connect
    /// </code>
    /// </summary>
    public static byte[] ConnectProgram(int routesFd, int redirectedFd)
    {
        var insns = new List<byte[]>
        {
            Insn(0xbf, dst: 6, src: 1),                      // 0: r6 = ctx
            Insn(0x61, dst: 2, src: 6, off: 32),             // 1: r2 = ctx->type
            Insn(0x55, dst: 2, off: 34, imm: 1),             // 2: if r2 != SOCK_STREAM goto allow
            Insn(0xbf, dst: 1, src: 6),                      // 3: r1 = ctx
            Insn(0x85, imm: HelperGetNetnsCookie),           // 4: r0 = netns cookie
            Insn(0x7b, dst: 10, src: 0, off: -16),           // 5: key.netns = r0
            Insn(0x61, dst: 2, src: 6, off: 4),              // 6: r2 = ctx->user_ip4
            Insn(0x63, dst: 10, src: 2, off: -8),            // 7: key.ip = r2
            Insn(0x61, dst: 2, src: 6, off: 24),             // 8: r2 = ctx->user_port
            Insn(0x63, dst: 10, src: 2, off: -4),            // 9: key.port = r2
            Insn(0x18, dst: 1, src: 1, imm: routesFd),       // 10: r1 = routes (ld_imm64, BPF_PSEUDO_MAP_FD) ...
            Insn(0x00),                                      // 11: ... its second half
            Insn(0xbf, dst: 2, src: 10),                     // 12: r2 = r10
            Insn(0x07, dst: 2, imm: -16),                    // 13: r2 = &key
            Insn(0x85, imm: HelperMapLookup),                // 14: r0 = routes[key]
            Insn(0x15, dst: 0, off: 21, imm: 0),             // 15: if r0 == NULL goto allow
            Insn(0x61, dst: 7, src: 0, off: 0),              // 16: r7 = backend ip
            Insn(0x61, dst: 8, src: 0, off: 4),              // 17: r8 = backend port
            Insn(0x63, dst: 6, src: 7, off: 4),              // 18: ctx->user_ip4 = r7
            Insn(0x63, dst: 6, src: 8, off: 24),             // 19: ctx->user_port = r8
            Insn(0x63, dst: 10, src: 7, off: -32),           // 20: record.backend ip = r7
            Insn(0x63, dst: 10, src: 8, off: -28),           // 21: record.backend port = r8
            Insn(0x61, dst: 2, src: 10, off: -8),            // 22: r2 = key.ip
            Insn(0x63, dst: 10, src: 2, off: -24),           // 23: record.endpoint ip = r2
            Insn(0x61, dst: 2, src: 10, off: -4),            // 24: r2 = key.port
            Insn(0x63, dst: 10, src: 2, off: -20),           // 25: record.endpoint port = r2
            Insn(0xbf, dst: 1, src: 6),                      // 26: r1 = ctx
            Insn(0x85, imm: HelperGetSocketCookie),          // 27: r0 = socket cookie
            Insn(0x7b, dst: 10, src: 0, off: -40),           // 28: cookie = r0
            Insn(0x18, dst: 1, src: 1, imm: redirectedFd),   // 29: r1 = redirected ...
            Insn(0x00),                                      // 30: ... second half
            Insn(0xbf, dst: 2, src: 10),                     // 31: r2 = r10
            Insn(0x07, dst: 2, imm: -40),                    // 32: r2 = &cookie
            Insn(0xbf, dst: 3, src: 10),                     // 33: r3 = r10
            Insn(0x07, dst: 3, imm: -32),                    // 34: r3 = &record
            Insn(0xb7, dst: 4, imm: 0),                      // 35: r4 = BPF_ANY
            Insn(0x85, imm: HelperMapUpdate),                // 36: redirected[cookie] = { backend, endpoint }
            Insn(0xb7, dst: 0, imm: 1),                      // 37: allow: r0 = 1
            Insn(0x95),                                      // 38: exit
        };
        return [.. insns.SelectMany(i => i)];
    }

    /// <summary>What the program records for a socket it redirected: the backend, then the proxy endpoint asked for.</summary>
    public static byte[] Record(IPEndPoint backend, IPEndPoint endpoint) => [.. Endpoint(backend), .. Endpoint(endpoint)];

    /// <summary>A routes key: netns cookie (host order), IPv4 address and port as connect() gives them (network order).</summary>
    public static byte[] RouteKey(ulong netns, IPEndPoint endpoint)
    {
        var k = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(k, netns);
        Endpoint(endpoint).CopyTo(k, 8);
        return k;
    }

    /// <summary>A backend as the program reads it: IPv4 address, then the port in network order in a 32-bit field.</summary>
    public static byte[] Endpoint(IPEndPoint endpoint)
    {
        var v = new byte[8];
        endpoint.Address.MapToIPv4().GetAddressBytes().CopyTo(v, 0);
        BinaryPrimitives.WriteUInt16BigEndian(v.AsSpan(4), (ushort)endpoint.Port);
        return v;
    }
}
