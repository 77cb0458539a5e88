using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Rampart.Balancer;

/// <summary>The bpf(2) calls the proxy's kernel paths need (x86-64), and the instruction encoding of their programs.</summary>
internal static unsafe class Bpf
{
    public const int MapHash = 1, MapLruHash = 9, MapSockHash = 18;
    public const int ProgSkSkb = 14, ProgCgroupSockAddr = 18;
    public const int AttachSkSkbVerdict = 38, AttachCgroupInet4Connect = 10;

    /// <summary>BPF_MAP_CREATE; a descriptor, or -1.</summary>
    public static int CreateMap(int type, int keySize, int valueSize, int maxEntries)
    {
        uint* attr = stackalloc uint[5] { (uint)type, (uint)keySize, (uint)valueSize, (uint)maxEntries, 0 };
        return Call(0, attr, 20);
    }

    /// <summary>BPF_PROG_LOAD of a GPL program; a descriptor, or -1.</summary>
    public static int LoadProgram(int type, int expectedAttachType, byte[] code)
    {
        var license = "GPL\0"u8.ToArray();
        fixed (byte* insns = code, lic = license)
        {
            var attr = stackalloc byte[128];
            new Span<byte>(attr, 128).Clear();
            *(uint*)attr = (uint)type;
            *(uint*)(attr + 4) = (uint)(code.Length / 8);
            *(ulong*)(attr + 8) = (ulong)insns;
            *(ulong*)(attr + 16) = (ulong)lic;
            *(uint*)(attr + 68) = (uint)expectedAttachType;
            return Call(5, attr, 128);
        }
    }

    /// <summary>BPF_MAP_UPDATE_ELEM (any: create or replace); false when the kernel refused.</summary>
    public static bool Update(int map, void* key, void* value)
    {
        ulong* attr = stackalloc ulong[4] { (uint)map, (ulong)key, (ulong)value, 0 };
        return Call(2, attr, 32) == 0;
    }

    /// <summary>BPF_MAP_LOOKUP_ELEM; false when the key is absent.</summary>
    public static bool Lookup(int map, void* key, void* value)
    {
        ulong* attr = stackalloc ulong[4] { (uint)map, (ulong)key, (ulong)value, 0 };
        return Call(1, attr, 32) == 0;
    }

    /// <summary>BPF_MAP_DELETE_ELEM (absent keys are fine).</summary>
    public static void Delete(int map, void* key)
    {
        ulong* attr = stackalloc ulong[4] { (uint)map, (ulong)key, 0, 0 };
        Call(3, attr, 32);
    }

    /// <summary>
    /// BPF_LINK_CREATE: attaches the program to a cgroup, or -1. The attachment lives as long as the returned
    /// descriptor, so a crashed process leaves nothing behind (BPF_PROG_ATTACH would outlive it).
    /// </summary>
    public static int Link(int program, int target, int attachType)
    {
        uint* attr = stackalloc uint[16];
        new Span<uint>(attr, 16).Clear();
        attr[0] = (uint)program;
        attr[1] = (uint)target;
        attr[2] = (uint)attachType;
        return Call(28, attr, 64);
    }

    public static int Call(int cmd, void* attr, int size) => (int)syscall(321, cmd, attr, size);   // __NR_bpf on x86-64

    public static bool Supported => OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture == Architecture.X64;

    /// <summary>One 8-byte instruction: opcode, registers, offset, immediate.</summary>
    public static byte[] Insn(byte code, int dst = 0, int src = 0, short off = 0, int imm = 0)
    {
        var b = new byte[8];
        b[0] = code;
        b[1] = (byte)(dst | (src << 4));
        BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(2), off);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(4), imm);
        return b;
    }

    [DllImport("libc", SetLastError = true)] private static extern long syscall(long number, long cmd, void* attr, long size);
}
