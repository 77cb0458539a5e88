using System.Net.Sockets;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Rampart.Common.AdminSocket;

namespace Rampart.Rbd.Tests.AdminSocket;

/// <summary>The admin socket's line protocol over a real Unix socket, and its client's errors.</summary>
public sealed class AdminSocketTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rampart-asok-").FullName;

    private string SocketPath => Path.Combine(_dir, "client.admin.asok");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private AdminSocketServer Server(PerfRegistry? perf = null)
    {
        var server = new AdminSocketServer(SocketPath, NullLogger.Instance);
        if (perf is not null)
            server.Register("perf dump", "dump perf counters", (args, json, _) =>
            {
                perf.WriteTo(json, args.Count == 0 ? null : [.. args]);
                return ValueTask.CompletedTask;
            });
        server.Register("fail now", "always fails", (_, _, _) => throw new InvalidOperationException("broken on purpose"));
        return server;
    }

    [Fact]
    public async Task PerfDump_RoundTrip_PrintsEveryCounterSet()
    {
        var perf = new PerfRegistry();
        var image = new PerfCounters("librbd-abc-rbd-disk");
        var wr = image.Counter("wr");
        var latency = image.Time("wr_latency");
        image.Gauge("dirty_bytes", () => 4096);
        perf.Add(image);
        perf.Add(new PerfCounters("nbd-server"));
        wr.Add(3);
        latency.Record(TimeSpan.FromMilliseconds(2));
        latency.Record(TimeSpan.FromMilliseconds(4));
        await using var server = Server(perf);
        server.Start();

        using var json = JsonDocument.Parse(await AdminSocketClient.RequestAsync(SocketPath, "perf dump", CancellationToken.None));

        var section = json.RootElement.GetProperty("librbd-abc-rbd-disk");
        Assert.Equal(3, section.GetProperty("wr").GetInt64());
        Assert.Equal(2, section.GetProperty("wr_latency").GetProperty("avgcount").GetInt64());
        Assert.Equal(0.006, section.GetProperty("wr_latency").GetProperty("sum").GetDouble(), 9);
        Assert.Equal(0.003, section.GetProperty("wr_latency").GetProperty("avgtime").GetDouble(), 9);
        Assert.Equal(4096, section.GetProperty("dirty_bytes").GetInt64());
        Assert.True(json.RootElement.TryGetProperty("nbd-server", out _));
    }

    [Fact]
    public async Task PerfDump_WithASectionName_PrintsOnlyThatSection()
    {
        var perf = new PerfRegistry();
        perf.Add(new PerfCounters("a"));
        perf.Add(new PerfCounters("b"));
        await using var server = Server(perf);
        server.Start();

        using var json = JsonDocument.Parse(await AdminSocketClient.RequestAsync(SocketPath, "  perf   dump b ", CancellationToken.None));

        Assert.Equal(["b"], json.RootElement.EnumerateObject().Select(p => p.Name));
    }

    [Fact]
    public async Task Help_ListsEveryCommand()
    {
        await using var server = Server(new PerfRegistry());
        server.Start();

        using var json = JsonDocument.Parse(await AdminSocketClient.RequestAsync(SocketPath, "help", CancellationToken.None));

        Assert.Equal(["fail now", "help", "perf dump"], json.RootElement.EnumerateObject().Select(p => p.Name));
        Assert.Equal("dump perf counters", json.RootElement.GetProperty("perf dump").GetString());
    }

    [Theory]
    [InlineData("perf", "unknown command 'perf' (try 'help')")]
    [InlineData("", "empty command (try 'help')")]
    [InlineData("fail now", "fail now: broken on purpose")]
    public async Task BadCommands_AreAnsweredWithAnErrorAlone(string command, string error)
    {
        await using var server = Server(new PerfRegistry());
        server.Start();

        using var json = JsonDocument.Parse(await AdminSocketClient.RequestAsync(SocketPath, command, CancellationToken.None));

        Assert.Equal(error, json.RootElement.GetProperty("error").GetString());
        Assert.Single(json.RootElement.EnumerateObject());
    }

    [Fact]
    public async Task Dispose_RemovesTheSocketFile()
    {
        var server = Server();
        server.Start();
        Assert.True(File.Exists(SocketPath));

        await server.DisposeAsync();

        Assert.False(File.Exists(SocketPath));
        var error = await Assert.ThrowsAsync<IOException>(() => AdminSocketClient.RequestAsync(SocketPath, "help", CancellationToken.None));
        Assert.Equal($"admin socket {SocketPath}: no such file (is the process running with this admin_socket?)", error.Message);
    }

    [Fact]
    public async Task StaleSocketFile_IsRefused_ThenReplacedByTheNextServer()
    {
        // A crashed process's file: a socket nobody listens on. (.NET removes the file of a socket it bound when the
        // socket is disposed, so the file is moved away first, as a kill -9 would leave it.)
        using (var dead = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            dead.Bind(new UnixDomainSocketEndPoint(SocketPath + ".tmp"));
            File.Move(SocketPath + ".tmp", SocketPath);
        }
        Assert.True(File.Exists(SocketPath));
        var error = await Assert.ThrowsAsync<IOException>(() => AdminSocketClient.RequestAsync(SocketPath, "help", CancellationToken.None));
        Assert.Equal($"admin socket {SocketPath}: connection refused (the process that made it is gone)", error.Message);

        await using var server = Server();
        server.Start();

        Assert.Contains("help", await AdminSocketClient.RequestAsync(SocketPath, "help", CancellationToken.None), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_OnASocketAnotherServerAnswers_Fails()
    {
        await using var first = Server();
        first.Start();
        await using var second = Server();

        var error = Assert.Throws<IOException>(second.Start);

        Assert.Equal($"admin socket {SocketPath}: another process is answering on it", error.Message);
    }

    [Fact]
    public void ExpandPath_ReplacesNameIdPidAndCluster() =>
        Assert.Equal("/run/rampart/rampart-client.admin.admin.42.asok",
            AdminSocketServer.ExpandPath("/run/rampart/$cluster-$name.$id.$pid.asok", "client.admin", 42));
}
