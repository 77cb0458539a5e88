using static Rampart.Balancer.Bpf;

namespace Rampart.Balancer;

/// <summary>The pure part of the in-kernel relay: the BPF verdict program's bytes and the drain rule.</summary>
internal static class KernelRelayCore
{
    private const int HelperGetSocketCookie = 46;   // bpf_get_socket_cookie(skb)
    private const int HelperSkRedirectHash = 72;    // bpf_sk_redirect_hash(skb, map, key, flags)

    /// <summary>
    /// The sk_skb verdict program, run by the kernel for every segment a paired socket receives:
    /// <code>
    /// key = bpf_get_socket_cookie(skb);              // the receiving socket
    /// bpf_sk_redirect_hash(skb, map, &amp;key, 0);     // map[key] = its peer; flags 0 = out of the peer (egress)
    /// return SK_PASS;                                // no peer (yet, or any more): keep the bytes on this socket
    /// </code>
    /// Returning SK_PASS when the lookup fails (the helper's own answer would be SK_DROP) means bytes are never
    /// lost in the moment between the two map insertions of a pair: they stay readable for the proxy.
    /// </summary>
    public static byte[] VerdictProgram(int mapFd)
    {
        var insns = new List<byte[]>
        {
            Insn(0xbf, dst: 6, src: 1),                      // r6 = r1 (ctx)
            Insn(0x85, imm: HelperGetSocketCookie),          // r0 = cookie
            Insn(0x7b, dst: 10, src: 0, off: -8),            // *(u64 *)(r10 - 8) = r0
            Insn(0xbf, dst: 1, src: 6),                      // r1 = ctx
            Insn(0x18, dst: 2, src: 1, imm: mapFd),          // r2 = map (ld_imm64, BPF_PSEUDO_MAP_FD) ...
            Insn(0x00),                                      // ... its second half
            Insn(0xbf, dst: 3, src: 10),                     // r3 = r10
            Insn(0x07, dst: 3, imm: -8),                     // r3 += -8 (&key)
            Insn(0xb7, dst: 4, imm: 0),                      // r4 = 0
            Insn(0x85, imm: HelperSkRedirectHash),           // redirect if the peer is there
            Insn(0xb7, dst: 0, imm: 1),                      // r0 = SK_PASS
            Insn(0x95),                                      // exit
        };
        return [.. insns.SelectMany(i => i)];
    }

    /// <summary>
    /// After one side's peer finished (its FIN arrived), may the pair be closed without losing bytes? Only once
    /// everything that side received has been written into the other socket: the kernel forwards from a work
    /// queue, so the FIN can be seen before the last bytes left. <paramref name="receivedWithFin"/> is
    /// tcpi_bytes_received (the FIN counts one); written is tcpi_bytes_acked plus the send queue (SIOCOUTQ) of the
    /// other socket, now and when the pair was joined (nothing had been written by then).
    /// </summary>
    public static bool Drained(ulong receivedWithFin, ulong writtenNow, ulong writtenAtJoin) =>
        writtenNow - writtenAtJoin + 1 >= receivedWithFin;
}
