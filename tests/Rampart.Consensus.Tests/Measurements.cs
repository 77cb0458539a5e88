using System.Diagnostics;
using Xunit.Abstractions;

namespace Rampart.Consensus.Tests;

/// <summary>Timing numbers for reports; runs only with RAMPART_MEASURE=1 and asserts nothing about speed.</summary>
public sealed class Measurements(ITestOutputHelper output)
{
    [Fact]
    [Trait("Category", "Measure")]
    public async Task Measure_Election_Failover_SerialCommit()
    {
        if (Environment.GetEnvironmentVariable("RAMPART_MEASURE") != "1")
            return;

        var election = new List<double>();
        var failover = new List<double>();
        var commits = new List<double>();
        for (var round = 0; round < 5; round++)
        {
            var watch = Stopwatch.StartNew();
            await using var cluster = await TestCluster.StartAsync();
            var leader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
            election.Add(watch.Elapsed.TotalMilliseconds);

            for (var i = 0; i < 300; i++)
            {
                var start = Stopwatch.GetTimestamp();
                await cluster.ProposeAsync(leader, $"m{i}");
                commits.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }

            await cluster.StopNodeAsync(leader);
            watch.Restart();
            await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
            failover.Add(watch.Elapsed.TotalMilliseconds);
        }

        output.WriteLine($"election at start ms: {Describe(election)}");
        output.WriteLine($"new leader after stop ms: {Describe(failover)}");
        output.WriteLine($"serial commit ms: {Describe(commits)}");
    }

    private static string Describe(List<double> values)
    {
        var sorted = values.Order().ToArray();
        double At(double q) => sorted[Math.Min(sorted.Length - 1, (int)(q * sorted.Length))];
        return $"n={sorted.Length} min={sorted[0]:F1} p50={At(0.5):F1} p90={At(0.9):F1} p99={At(0.99):F1} max={sorted[^1]:F1}";
    }
}
