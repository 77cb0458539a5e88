using System.Diagnostics;
using System.Net;
using System.Text;
using Rampart.Common.Net;

namespace Rampart.Consensus.Tests;

/// <summary>N in-process Raft nodes on free loopback ports, each with its own temp data directory.</summary>
internal sealed class TestCluster : IAsyncDisposable
{
    private readonly string _root;
    private readonly int _snapshotEvery;

    private TestCluster(int size, int snapshotEvery)
    {
        _root = Path.Combine(Path.GetTempPath(), "rampart-consensus-" + Guid.NewGuid().ToString("N"));
        _snapshotEvery = snapshotEvery;
        Endpoints = FreeLoopbackEndpoints(size);
        Nodes = new RaftNode?[size];
        Machines = new AppendLogMachine[size];
    }

    public IReadOnlyList<IPEndPoint> Endpoints { get; }

    public RaftNode?[] Nodes { get; }

    public AppendLogMachine[] Machines { get; }

    public static async Task<TestCluster> StartAsync(int size = 3, int snapshotEvery = 1000)
    {
        var cluster = new TestCluster(size, snapshotEvery);
        try
        {
            await Task.WhenAll(Enumerable.Range(0, size).Select(cluster.StartNodeAsync));
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    public string DataDirectory(int i) => Path.Combine(_root, $"node{i}");

    /// <summary>Starts node <paramref name="i"/> with a fresh state machine on its (possibly existing) data directory.</summary>
    public async Task StartNodeAsync(int i)
    {
        Assert.Null(Nodes[i]);
        Machines[i] = new AppendLogMachine();
        var options = new RaftOptions
        {
            LocalEndPoint = Endpoints[i],
            Members = Endpoints,
            DataDirectory = DataDirectory(i),
            SnapshotEvery = _snapshotEvery,
        };
        Nodes[i] = await RaftNode.StartAsync(options, Machines[i], null, CancellationToken.None);
    }

    public async Task StopNodeAsync(int i)
    {
        var node = Nodes[i];
        Nodes[i] = null;
        if (node is not null)
            await node.DisposeAsync();
    }

    public IEnumerable<int> Running => Enumerable.Range(0, Nodes.Length).Where(i => Nodes[i] is not null);

    /// <summary>Waits until exactly one running node leads and every running node names it; returns its number.</summary>
    public async Task<int> WaitForLeaderAsync(TimeSpan timeout)
    {
        var leader = -1;
        await WaitUntilAsync(() =>
        {
            var leaders = Running.Where(i => Nodes[i]!.IsLeader).ToArray();
            if (leaders.Length != 1)
                return false;
            leader = leaders[0];
            return Running.All(i => Equals(Nodes[i]!.Leader, Endpoints[leader]));
        }, timeout, "a single leader known to every running node");
        return leader;
    }

    public async Task<long> ProposeAsync(int node, string command)
        => await Nodes[node]!.ProposeAsync(Encoding.UTF8.GetBytes(command), CancellationToken.None);

    /// <summary>Proposes through whoever leads; when leadership moves mid-way (a starved machine misses heartbeats), asks the
    /// new leader (as a client would: the first attempt may still be committed, so the command can be applied twice).
    /// Returns the index and the node that accepted it.</summary>
    public async Task<(long Index, int Leader)> ProposeToLeaderAsync(string command, TimeSpan timeout)
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            int leader = await WaitForLeaderAsync(timeout);
            try
            {
                return (await ProposeAsync(leader, command), leader);
            }
            catch (NotLeaderException) when (watch.Elapsed < timeout)
            {
            }
        }
    }

    public static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, string what)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            if (watch.Elapsed > timeout)
                throw new TimeoutException($"waited {timeout.TotalSeconds} s for {what}");
            await Task.Delay(10);
        }
    }

    public async ValueTask DisposeAsync()
    {
        for (var i = 0; i < Nodes.Length; i++)
        {
            try
            {
                await StopNodeAsync(i);
            }
            catch (Exception)
            {
                // keep stopping the others
            }
        }

        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }

    private static IPEndPoint[] FreeLoopbackEndpoints(int count) =>
        LoopbackPorts.Free(count).Select(port => new IPEndPoint(IPAddress.Loopback, port)).ToArray();
}
