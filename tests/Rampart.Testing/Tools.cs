using System.Diagnostics;

namespace Rampart.Testing;

/// <summary>Runs the real client tools (qemu-img, nbdinfo, nbdcopy, fio) in a directory; kills any still running on dispose.</summary>
public sealed class Tools(string dir) : IDisposable
{
    private readonly List<Process> _processes = [];

    public Task<(int Exit, string Out, string Err)> RunAsync(string tool, params string[] args) => RunAsync(TimeSpan.FromSeconds(120), tool, args);

    /// <summary>Runs a tool to completion (killed, with its children, past the limit) and returns its exit code and output.</summary>
    public async Task<(int Exit, string Out, string Err)> RunAsync(TimeSpan limit, string tool, params string[] args)
    {
        var process = Process.Start(new ProcessStartInfo(tool, args)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = dir,
        }) ?? throw new InvalidOperationException($"{tool} did not start");
        lock (_processes) _processes.Add(process);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(limit);
        }
        catch (TimeoutException)
        {
            Kill(process);
            throw new TimeoutException($"{tool} {string.Join(' ', args)} still running after {limit.TotalSeconds:0} s; stderr: {await stderr}");
        }
        return (process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Like <see cref="RunAsync(string, string[])"/>, failing with the tool's output unless it exits 0.</summary>
    public async Task<string> OkAsync(string tool, params string[] args)
    {
        var (exit, output, error) = await RunAsync(tool, args);
        if (exit != 0) throw new InvalidOperationException($"{tool} {string.Join(' ', args)} exited {exit}:\n{output}\n{error}");
        return output;
    }

    private static void Kill(Process process)
    {
        try { if (!process.HasExited) process.Kill(entireProcessTree: true); }
        catch (InvalidOperationException) { }
    }

    public void Dispose()
    {
        lock (_processes)
        {
            foreach (var process in _processes)
            {
                Kill(process);
                process.Dispose();
            }
            _processes.Clear();
        }
    }
}
