using Rampart.Balancer;

namespace Rampart.Sql.Tests.Proxy;

public sealed class KernelRelayCoreTests
{
    [Fact]
    public void VerdictProgram_LooksUpThePeerByCookie_RedirectsAndOtherwisePasses()
    {
        var code = KernelRelayCore.VerdictProgram(mapFd: 7);
        Assert.Equal(12 * 8, code.Length);
        byte[] Insn(int i) => code[(i * 8)..(i * 8 + 8)];
        Assert.Equal(new byte[] { 0x85, 0, 0, 0, 46, 0, 0, 0 }, Insn(1));             // call bpf_get_socket_cookie
        Assert.Equal(new byte[] { 0x7b, 0x0a, 0xf8, 0xff, 0, 0, 0, 0 }, Insn(2));     // *(u64 *)(r10 - 8) = r0
        Assert.Equal(new byte[] { 0x18, 0x12, 0, 0, 7, 0, 0, 0 }, Insn(4));           // r2 = map fd 7 (pseudo map fd)
        Assert.Equal(new byte[8], Insn(5));
        Assert.Equal(new byte[] { 0x07, 0x03, 0, 0, 0xf8, 0xff, 0xff, 0xff }, Insn(7)); // r3 = r10 - 8
        Assert.Equal(new byte[] { 0x85, 0, 0, 0, 72, 0, 0, 0 }, Insn(9));             // call bpf_sk_redirect_hash
        Assert.Equal(new byte[] { 0xb7, 0, 0, 0, 1, 0, 0, 0 }, Insn(10));             // SK_PASS
        Assert.Equal(new byte[] { 0x95, 0, 0, 0, 0, 0, 0, 0 }, Insn(11));             // exit
    }

    [Theory]
    [InlineData(101ul, 1101ul, 1000ul, true)]    // 100 bytes + FIN received, 100 written since the join
    [InlineData(101ul, 1099ul, 1000ul, false)]   // 1 byte still in the kernel's queue
    [InlineData(1ul, 1000ul, 1000ul, true)]      // only the FIN
    [InlineData(5001ul, 5001ul, 1ul, true)]      // the SYN counted in the written base
    public void Drained_OnlyOnceEverythingBeforeTheFinWasWritten(ulong received, ulong written, ulong atJoin, bool drained) =>
        Assert.Equal(drained, KernelRelayCore.Drained(received, written, atJoin));
}
