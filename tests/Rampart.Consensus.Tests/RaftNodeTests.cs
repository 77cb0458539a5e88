namespace Rampart.Consensus.Tests;

public sealed class RaftNodeTests
{
    private static readonly TimeSpan ElectionDeadline = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan CatchUpDeadline = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Start_ThreeNodes_ElectExactlyOneLeader()
    {
        await using var cluster = await TestCluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync(ElectionDeadline);

        Assert.Single(cluster.Running, i => cluster.Nodes[i]!.IsLeader);
        Assert.All(cluster.Running, i => Assert.Equal(cluster.Endpoints[leader], cluster.Nodes[i]!.Leader));
        Assert.True(cluster.Nodes[leader]!.Term > 0);
    }

    [Fact]
    public async Task Start_SingleNode_ElectsItselfCommitsAndKeepsStateAcrossRestart()
    {
        await using var cluster = await TestCluster.StartAsync(size: 1);
        Assert.Equal(0, await cluster.WaitForLeaderAsync(ElectionDeadline));
        await cluster.ProposeAsync(0, "alone");
        await cluster.StopNodeAsync(0);
        await cluster.StartNodeAsync(0);
        Assert.Equal(0, await cluster.WaitForLeaderAsync(ElectionDeadline));
        await cluster.Nodes[0]!.ReadBarrierAsync(CancellationToken.None);
        Assert.Equal(["alone"], cluster.Machines[0].Commands);
    }

    [Fact]
    public async Task Propose_OnLeader_AppliedInSameOrderOnAllNodes()
    {
        await using var cluster = await TestCluster.StartAsync();

        var expected = Enumerable.Range(0, 50).Select(i => $"cmd-{i}").ToArray();
        var last = 0L;
        foreach (var command in expected)
        {
            // Through whoever leads: on a starved machine leadership can move between proposals.
            var (index, leader) = await cluster.ProposeToLeaderAsync(command, ElectionDeadline);
            Assert.True(index > last, $"index {index} after {last}");
            last = index;

            // Applied on the leader when ProposeAsync returns.
            Assert.Equal(command, cluster.Machines[leader].Commands[^1]);
        }

        var final = await cluster.WaitForLeaderAsync(ElectionDeadline);
        await cluster.Nodes[final]!.ReadBarrierAsync(CancellationToken.None);
        // Every command once, in proposal order (a proposal retried after a leader change may also appear twice).
        Assert.Equal(expected, cluster.Machines[final].Commands.Distinct());
        foreach (var i in cluster.Running)
        {
            await cluster.Nodes[i]!.ReadBarrierAsync(CancellationToken.None);
            Assert.Equal(cluster.Machines[final].Commands, cluster.Machines[i].Commands);
            Assert.Equal(cluster.Machines[final].Indices, cluster.Machines[i].Indices);
            Assert.True(cluster.Nodes[i]!.LastAppliedIndex >= last);
        }
    }

    [Fact]
    public async Task Propose_Concurrently_AllAppliedInOneOrderEverywhere()
    {
        await using var cluster = await TestCluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync(ElectionDeadline);

        var indices = await Task.WhenAll(Enumerable.Range(0, 64).Select(i => cluster.ProposeAsync(leader, $"c{i}")));

        Assert.Equal(64, indices.Distinct().Count());
        foreach (var i in cluster.Running)
        {
            await cluster.Nodes[i]!.ReadBarrierAsync(CancellationToken.None);
            Assert.Equal(cluster.Machines[leader].Commands, cluster.Machines[i].Commands);
        }

        Assert.Equal(indices.Order(), cluster.Machines[leader].Indices);
    }

    [Fact]
    public async Task Propose_OnFollower_ThrowsNotLeaderWithLeaderEndpoint()
    {
        await using var cluster = await TestCluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync(ElectionDeadline);
        var follower = cluster.Running.First(i => i != leader);

        var e = await Assert.ThrowsAsync<NotLeaderException>(() => cluster.ProposeAsync(follower, "x"));

        Assert.Equal(cluster.Endpoints[leader], e.Leader);
        Assert.Empty(cluster.Machines[follower].Commands);
    }

    [Fact]
    public async Task LeaderStopped_NewLeaderElected_ProposalsContinue()
    {
        await using var cluster = await TestCluster.StartAsync();
        var first = await cluster.WaitForLeaderAsync(ElectionDeadline);
        await cluster.ProposeAsync(first, "before");
        var firstTerm = cluster.Nodes[first]!.Term;

        await cluster.StopNodeAsync(first);
        var second = await cluster.WaitForLeaderAsync(ElectionDeadline);

        Assert.NotEqual(first, second);
        Assert.True(cluster.Nodes[second]!.Term > firstTerm);
        await cluster.ProposeAsync(second, "after");
        foreach (var i in cluster.Running)
        {
            await cluster.Nodes[i]!.ReadBarrierAsync(CancellationToken.None);
            Assert.Equal(["before", "after"], cluster.Machines[i].Commands);
        }
    }

    [Fact]
    public async Task LeaderChanged_Raised_WithNewLeader()
    {
        await using var cluster = await TestCluster.StartAsync();
        var first = await cluster.WaitForLeaderAsync(ElectionDeadline);
        var watcher = cluster.Running.First(i => i != first);
        var seen = new TaskCompletionSource<System.Net.IPEndPoint>(TaskCreationOptions.RunContinuationsAsynchronously);
        cluster.Nodes[watcher]!.LeaderChanged += leader =>
        {
            if (leader is not null && !leader.Equals(cluster.Endpoints[first]))
                seen.TrySetResult(leader);
        };

        await cluster.StopNodeAsync(first);
        var second = await cluster.WaitForLeaderAsync(ElectionDeadline);

        Assert.Equal(cluster.Endpoints[second], await seen.Task.WaitAsync(ElectionDeadline));
    }

    [Fact]
    public async Task FollowerRestarted_CatchesUp_SameState()
    {
        await using var cluster = await TestCluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync(ElectionDeadline);
        var follower = cluster.Running.First(i => i != leader);
        for (var i = 0; i < 10; i++)
            await cluster.ProposeAsync(leader, $"a{i}");
        await cluster.Nodes[follower]!.ReadBarrierAsync(CancellationToken.None);

        await cluster.StopNodeAsync(follower);
        for (var i = 0; i < 10; i++)
            await cluster.ProposeAsync(leader, $"b{i}");
        await cluster.StartNodeAsync(follower);

        var expected = cluster.Machines[leader].Commands;
        await TestCluster.WaitUntilAsync(() => cluster.Machines[follower].Commands.SequenceEqual(expected), CatchUpDeadline, "the restarted follower to catch up");
        await cluster.Nodes[follower]!.ReadBarrierAsync(CancellationToken.None);
        Assert.Equal(20, cluster.Machines[follower].Commands.Count);
        Assert.Equal(cluster.Machines[leader].Indices, cluster.Machines[follower].Indices);
    }

    [Fact]
    public async Task AllStoppedAndRestarted_StateIntact_ProposalsContinue()
    {
        await using var cluster = await TestCluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync(ElectionDeadline);
        for (var i = 0; i < 20; i++)
            await cluster.ProposeAsync(leader, $"p{i}");
        foreach (var i in cluster.Running)
            await cluster.Nodes[i]!.ReadBarrierAsync(CancellationToken.None);
        var expected = cluster.Machines[leader].Commands;

        for (var i = 0; i < 3; i++)
            await cluster.StopNodeAsync(i);
        await Task.WhenAll(Enumerable.Range(0, 3).Select(cluster.StartNodeAsync));
        leader = await cluster.WaitForLeaderAsync(ElectionDeadline);
        await cluster.ProposeAsync(leader, "after-restart");

        foreach (var i in cluster.Running)
        {
            await cluster.Nodes[i]!.ReadBarrierAsync(CancellationToken.None);
            Assert.Equal([.. expected, "after-restart"], cluster.Machines[i].Commands);
        }
    }

    [Fact]
    public async Task Snapshot_AfterNEntries_RestartedNodeRestoresFromItWithoutReplayingIt()
    {
        await using var cluster = await TestCluster.StartAsync(snapshotEvery: 20);
        var leader = await cluster.WaitForLeaderAsync(ElectionDeadline);
        for (var i = 0; i < 50; i++)
            await cluster.ProposeToLeaderAsync($"s{i}", ElectionDeadline);
        leader = await cluster.WaitForLeaderAsync(ElectionDeadline);
        var follower = cluster.Running.First(i => i != leader);
        await cluster.Nodes[follower]!.ReadBarrierAsync(CancellationToken.None);
        var expected = cluster.Machines[leader].Commands;

        foreach (var node in new[] { follower, leader })
        {
            // The snapshot is written in the background after the N-th entry is applied.
            await TestCluster.WaitUntilAsync(() => Directory.EnumerateFiles(Path.Combine(cluster.DataDirectory(node), "snapshots"), "*-*").Any(), CatchUpDeadline, $"node {node} to write a snapshot");
            var snapshotIndex = cluster.Nodes[node]!.LastSnapshotIndex;
            Assert.True(snapshotIndex >= 20, $"node {node} snapshot index {snapshotIndex}");

            await cluster.StopNodeAsync(node);
            await cluster.StartNodeAsync(node);

            var machine = cluster.Machines[node];
            Assert.Equal(1, machine.RestoreCount);
            Assert.True(cluster.Nodes[node]!.LastSnapshotIndex >= 20);
            await TestCluster.WaitUntilAsync(() => machine.Commands.SequenceEqual(expected), CatchUpDeadline, $"node {node} to rebuild its state");
            Assert.True(machine.FirstAppliedSinceStart > cluster.Nodes[node]!.LastSnapshotIndex || machine.FirstAppliedSinceStart == 0,
                $"node {node} replayed index {machine.FirstAppliedSinceStart} covered by snapshot {cluster.Nodes[node]!.LastSnapshotIndex}");
        }

        await cluster.ProposeToLeaderAsync("after", ElectionDeadline);
        foreach (var i in cluster.Running)
        {
            await cluster.Nodes[i]!.ReadBarrierAsync(CancellationToken.None);
            Assert.Equal([.. expected, "after"], cluster.Machines[i].Commands);
        }
    }

    [Fact]
    public void Options_LocalNotInMembers_Rejected()
    {
        var options = new RaftOptions
        {
            LocalEndPoint = new(System.Net.IPAddress.Loopback, 1),
            Members = [new(System.Net.IPAddress.Loopback, 2)],
            DataDirectory = "/nonexistent",
        };

        var e = Assert.Throws<ArgumentException>(options.Validate);
        Assert.StartsWith("raft: local endpoint 127.0.0.1:1 is not in the member list (127.0.0.1:2); add it.", e.Message, StringComparison.Ordinal);
    }
}
