using System.Diagnostics;
using System.Runtime.InteropServices;
using Rampart.Testing;

namespace Rampart.Integration.Tests.Storage;

/// <summary>`./rampart up`, the README's main command, as a newcomer runs it: start, use, Ctrl-C, start again.</summary>
public sealed partial class UpCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rampart-up-").FullName;

    public void Dispose()
    {
        foreach (var process in Process.GetProcessesByName("rampart"))
        {
            try
            {
                if (File.ReadAllText($"/proc/{process.Id}/cmdline").Contains(_dir, StringComparison.Ordinal))
                    process.Kill(entireProcessTree: true);
            }
            catch (Exception e) when (e is IOException or InvalidOperationException or UnauthorizedAccessException) { }
        }
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    /// <summary>Starts `rampart up` and waits until its status line says every PG is active+clean (3 OSDs × 100 / size 3 → 128 PGs).</summary>
    private static async Task<(Process Process, List<string> Lines)> UpAsync(string dir)
    {
        // env restores SIGINT's default action, then execs (same pid): a runner started in the background has it ignored,
        // and an ignored SIGINT stays ignored across exec, so "Ctrl-C" would never arrive.
        var process = Process.Start(new ProcessStartInfo("env", ["--default-signal=INT", RampartCli.Path, "up", "--dir", dir, "--osds", "3"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var lines = new List<string>();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (lines) lines.Add(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (lines) lines.Add(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        await Wait.UntilAsync(() => { lock (lines) return Task.FromResult(lines.Any(l => l.Contains("HEALTH_OK", StringComparison.Ordinal) && l.Contains("| pgs 128 active+clean |", StringComparison.Ordinal))); },
            TimeSpan.FromSeconds(90), () => { lock (lines) return $"HEALTH_OK with 128 active+clean PGs in:\n{string.Join('\n', lines)}"; });
        return (process, lines);
    }

    private async Task<(int Exit, string Out, string Err)> RunAsync(params string[] args)
    {
        var info = new ProcessStartInfo(RampartCli.Path, args) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        info.Environment["RAMPART_CONF"] = Path.Combine(_dir, "rampart.conf");
        using var process = Process.Start(info)!;
        process.StandardInput.Write("hello from up\n");
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        return (process.ExitCode, await stdout, await stderr);
    }

    [Fact]
    public async Task Up_starts_a_usable_cluster_stops_cleanly_and_resumes_with_the_data()
    {
        var (first, lines) = await UpAsync(_dir);
        lock (lines)
            Assert.Contains(lines, l => l.Contains($"export RAMPART_CONF={Path.Combine(_dir, "rampart.conf")}", StringComparison.Ordinal));
        var put = await RunAsync("rados", "-p", "rbd", "put", "greeting", "-");
        Assert.True(put.Exit == 0, put.Err);

        Assert.Equal(0, Kill(first.Id, 2)); // Ctrl-C
        Assert.True(first.WaitForExit(TimeSpan.FromSeconds(30)), "up did not stop within 30 s");
        first.WaitForExit(); // the timed overload can return before the redirected output has been read to its end
        lock (lines)
            Assert.True(first.ExitCode == 0, $"up exited {first.ExitCode}:\n{string.Join('\n', lines)}");
        lock (lines)
            Assert.Contains("rampart up: all daemons stopped", lines);
        Assert.DoesNotContain(Process.GetProcessesByName("rampart"), p => File.Exists($"/proc/{p.Id}/cmdline") && File.ReadAllText($"/proc/{p.Id}/cmdline").Contains(_dir, StringComparison.Ordinal));

        var (second, _) = await UpAsync(_dir);
        var (exit, output, error) = await RunAsync("rados", "-p", "rbd", "get", "greeting", "-");
        Assert.True(exit == 0, error);
        Assert.Equal("hello from up\n", output);
        Kill(second.Id, 15);
        Assert.True(second.WaitForExit(TimeSpan.FromSeconds(30)));
    }

    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int Kill(int pid, int signal);
}
