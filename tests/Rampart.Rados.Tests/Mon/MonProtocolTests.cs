using Rampart.Rados.Maps;
using Rampart.Rados.Mon;

namespace Rampart.Rados.Tests.Mon;

public class MonProtocolTests
{
    [Theory]
    [InlineData(true, "pool 'rbd' created", null)]
    [InlineData(true, "", "AQBkey==")]
    [InlineData(false, "Error EPERM: pool deletion is disabled", null)]
    public void Command_reply_results_round_trip(bool success, string message, string? output)
    {
        var reply = CommandReply.Decode(CommandReply.Of(new MonResult(success, message, output)).Encode());
        Assert.Equal(new MonResult(success, message, output), reply.Result);
        Assert.Null(reply.Redirect);
    }

    [Theory]
    [InlineData("127.0.0.1:6789")]
    [InlineData(null)]
    public void Command_reply_redirects_round_trip(string? leader)
    {
        var reply = CommandReply.Decode(CommandReply.RedirectTo(leader).Encode());
        Assert.Null(reply.Result);
        Assert.Equal(leader, reply.Redirect);
    }

    [Fact]
    public void Truncated_or_unknown_replies_are_format_errors()
    {
        var bytes = CommandReply.Of(MonResult.Ok("fine", "out")).Encode();
        for (int length = 0; length < bytes.Length; length++)
            Assert.Throws<FormatException>(() => CommandReply.Decode(bytes.AsSpan(0, length)));
        Assert.Throws<FormatException>(() => CommandReply.Decode([7]));
    }

    [Fact]
    public void Subscribe_epochs_round_trip_and_bad_lengths_are_refused()
    {
        Assert.Equal(42, MonMessages.DecodeEpoch(MonMessages.EncodeEpoch(42)));
        Assert.Throws<FormatException>(() => MonMessages.DecodeEpoch(new byte[3]));
    }

    [Fact]
    public void State_machine_keeps_results_by_index_and_announces_new_epochs()
    {
        var machine = new MonitorStateMachine(Cluster.Fresh());
        var epochs = new List<long>();
        machine.MapCommitted += map => epochs.Add(map.Epoch);

        machine.Apply(5, MonCommandCodec.Encode(new PoolCreate("rbd")));
        machine.Apply(6, MonCommandCodec.Encode(new PoolCreate("rbd")));
        machine.Apply(7, "garbage"u8);

        Assert.True(machine.ResultOf(5)!.Success);
        Assert.Equal("pool 'rbd' already exists", machine.ResultOf(6)!.Message); // as Ceph: success, no change
        Assert.StartsWith("Error EINVAL", machine.ResultOf(7)!.Message, StringComparison.Ordinal);
        Assert.Null(machine.ResultOf(4));
        Assert.Equal([2L], epochs); // only the first create changed the map

        var copy = new MonitorStateMachine(Cluster.Fresh());
        copy.Restore(machine.Snapshot());
        Assert.Equal(machine.State, copy.State);
        Assert.NotNull(copy.State.Map.FindPool("rbd"));
    }
}
