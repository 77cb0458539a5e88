using System.Buffers.Binary;
using System.Net;
using DotNext.Buffers;
using DotNext.Net.Cluster.Consensus.Raft.Membership;

namespace Rampart.Consensus;

/// <summary>
/// DotNext membership storage for a static member list. The list is rebuilt from
/// <see cref="RaftOptions.Members"/> on every start, so keeping it in memory loses nothing.
/// </summary>
internal sealed class StaticMembership : InMemoryClusterConfigurationStorage<EndPoint>
{
    public StaticMembership(IEnumerable<IPEndPoint> members)
    {
        var builder = CreateInitialConfigurationBuilder();
        foreach (var member in members)
            builder.Add(member);
        builder.Build();
    }

    // Wire form: address length (1 byte), address bytes, port (2 bytes, big-endian).
    protected override void Encode(EndPoint address, ref BufferWriterSlim<byte> output)
    {
        if (address is not IPEndPoint ip)
            throw new NotSupportedException($"raft: member address {address} is not an IP endpoint.");

        Span<byte> buffer = stackalloc byte[1 + 16 + 2];
        ip.Address.TryWriteBytes(buffer[1..], out var written);
        buffer[0] = (byte)written;
        BinaryPrimitives.WriteUInt16BigEndian(buffer[(1 + written)..], (ushort)ip.Port);
        output.Write(buffer[..(1 + written + 2)]);
    }

    protected override EndPoint Decode(ref SequenceReader reader)
    {
        int length = reader.ReadByte();
        if (length is not (4 or 16))
            throw new InvalidDataException($"raft: member address length {length} is neither 4 nor 16.");

        Span<byte> buffer = stackalloc byte[16 + 2];
        reader.Read(buffer[..(length + 2)]);
        return new IPEndPoint(new IPAddress(buffer[..length]), BinaryPrimitives.ReadUInt16BigEndian(buffer[length..]));
    }
}
