using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Rampart.Linux;

/// <summary>
/// A network namespace made for a demo or a test, through iproute2. Dispose kills what runs inside and deletes it.
/// </summary>
public sealed partial class NetworkNamespace : IDisposable
{
    private const int CloneNewNet = 0x40000000;

    private NetworkNamespace(string name) => Name = name;

    public string Name { get; }

    /// <summary>Creates the namespace with its loopback up; a leftover of the same name is removed first.</summary>
    public static NetworkNamespace Create(string name)
    {
        if (File.Exists($"/var/run/netns/{name}")) new NetworkNamespace(name).Dispose();
        Ip("netns", "add", name);
        var ns = new NetworkNamespace(name);
        ns.Exec("ip", "link", "set", "lo", "up");
        return ns;
    }

    /// <summary>Runs a command inside and waits for it; a non-zero exit throws with its stderr.</summary>
    public string Exec(params string[] command) => Ip(["netns", "exec", Name, .. command]);

    /// <summary>Runs a shell command line inside; a non-zero exit throws with its stderr.</summary>
    public string Run(string shellCommand) => Exec("sh", "-c", shellCommand);

    /// <summary>Runs a command inside and returns its exit code (no exception).</summary>
    public int TryExec(params string[] command) => Run("ip", ["netns", "exec", Name, .. command], out _, out _);

    /// <summary>Starts a long-running process inside, in its own process group (so a whole tree can be killed).</summary>
    public Process Start(string file, IEnumerable<string> args, bool redirectOutput = true)
    {
        var start = new ProcessStartInfo("ip") { UseShellExecute = false, RedirectStandardOutput = redirectOutput, RedirectStandardError = redirectOutput, RedirectStandardInput = true };
        foreach (var a in new[] { "netns", "exec", Name, "setsid", "--wait", file }.Concat(args)) start.ArgumentList.Add(a);
        return Process.Start(start) ?? throw new InvalidOperationException($"could not start {file} in {Name}");
    }

    /// <summary>Runs a function on a thread that has entered the namespace; sockets made there stay in it.</summary>
    public T Enter<T>(Func<T> function)
    {
        T result = default!;
        Exception? error = null;
        var thread = new Thread(() =>
        {
            try
            {
                using var handle = File.OpenHandle($"/var/run/netns/{Name}");
                if (SetNs((int)handle.DangerousGetHandle(), CloneNewNet) != 0)
                    throw new IOException($"setns({Name}) failed: errno {Marshal.GetLastPInvokeError()}");
                result = function();
            }
            catch (Exception e) { error = e; }
        });
        thread.Start();
        thread.Join();
        if (error is not null) throw new InvalidOperationException($"in namespace {Name}: {error.Message}", error);
        return result;
    }

    public void Enter(Action action) => Enter(() => { action(); return 0; });

    /// <summary>Process ids running inside.</summary>
    public IReadOnlyList<int> Pids()
    {
        if (Run("ip", ["netns", "pids", Name], out var output, out _) != 0) return [];
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray();
    }

    public void Dispose()
    {
        foreach (var pid in Pids())
        {
            try { Process.GetProcessById(pid).Kill(entireProcessTree: true); }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception) { }
        }
        Run("ip", ["netns", "del", Name], out _, out _);
    }

    /// <summary>Runs "ip ARGS" on the host; a non-zero exit throws with its stderr.</summary>
    public static string Ip(params string[] args)
    {
        if (Run("ip", args, out var output, out var error) != 0)
            throw new InvalidOperationException($"ip {string.Join(' ', args)}: {error.Trim()}");
        return output;
    }

    private static int Run(string file, IEnumerable<string> args, out string output, out string error)
    {
        var start = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        error = stderr.Result;
        return process.ExitCode;
    }

    [LibraryImport("libc", EntryPoint = "setns", SetLastError = true)]
    private static partial int SetNs(int fd, int nstype);
}
