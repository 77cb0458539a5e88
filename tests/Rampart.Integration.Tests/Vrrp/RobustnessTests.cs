using System.Net;
using System.Net.Sockets;
using Rampart.Linux;
using Rampart.Vrrp.Protocol;

using Rampart.Testing;

namespace Rampart.Integration.Tests.Vrrp;

public class RobustnessTests
{
    [Fact]
    public async Task RandomAndMutatedPackets_CountedAndDropped_MasterUnshaken()
    {
        using var lab = new VrrpLab();
        var r1 = lab.StartRampart("r1", VrrpLab.Config("r1", 150, state: "MASTER"));
        await lab.WaitForStateAsync(r1, "MASTER");
        var before = await r1.InstanceAsync();

        // The client injects garbage into the VRRP multicast group: random bytes, and real adverts for
        // VRID 51 with one byte flipped (bad checksum) or claiming priority 254 with a wrong checksum.
        using (var socket = lab.Lan["c"].Enter(() => VrrpSocket.Open(AddressFamily.InterNetwork, "eth0", null, joinMulticast: false)))
        {
            var random = new Random(42);
            var buffer = new byte[100];
            var source = IPAddress.Parse("10.213.0.50");
            for (int i = 0; i < 500; i++)
            {
                int length;
                if (i % 2 == 0)
                {
                    length = random.Next(1, buffer.Length);
                    random.NextBytes(buffer);
                }
                else
                {
                    length = new VrrpPacket(3, 51, 254, 10, [VrrpLab.Vip]).Write(buffer, source, VrrpPacket.MulticastV4);
                    buffer[random.Next(length)] ^= (byte)(1 << random.Next(8));
                }
                socket.Send(buffer.AsSpan(0, length), VrrpPacket.MulticastV4);
            }
        }

        await Wait.UntilAsync(async () => (await r1.InstanceAsync()).InvalidPackets.GetValueOrDefault("BadChecksum") > 100,
            TimeSpan.FromSeconds(5), "bad checksums counted");
        var after = await r1.InstanceAsync();
        Assert.False(r1.HasExited);
        Assert.Equal("MASTER", after.State);
        Assert.Equal(before.Transitions, after.Transitions);
        Assert.Equal(150, after.EffectivePriority);
        var status = await r1.StatusAsync();
        Assert.True(after.InvalidPackets.Values.Sum() + status.UnmatchedPackets.Values.Sum() > 200);
    }
}
