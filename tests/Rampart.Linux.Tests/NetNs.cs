using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Rampart.Linux.Tests;

/// <summary>
/// A named network namespace for tests ("ip netns add"), deleted on Dispose. <see cref="Invoke{T}"/> runs code on a
/// dedicated thread that has entered the namespace (setns): sockets created there belong to it and keep working
/// from any thread afterwards.
/// </summary>
public sealed partial class NetNs : IDisposable
{
    private const int CLONE_NEWNET = 0x40000000;

    public string Name { get; }

    private NetNs(string name) => Name = name;

    /// <summary>A unique name "rt-&lt;random6&gt;-&lt;suffix&gt;".</summary>
    public static string UniqueName(string suffix) => $"rt-{Guid.NewGuid().ToString("N")[..6]}-{suffix}";

    /// <summary>Creates the namespace with lo up and IPv6 DAD off (addresses usable at once).</summary>
    public static NetNs Create(string name)
    {
        Shell.Run($"ip netns add {name}");
        var ns = new NetNs(name);
        try
        {
            ns.Run("ip link set lo up; sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0");
        }
        catch
        {
            ns.Dispose();
            throw;
        }
        return ns;
    }

    /// <summary>Runs a shell command inside the namespace; throws with stderr when it fails; returns stdout.</summary>
    public string Run(string command) => Shell.Run($"ip netns exec {Name} sh -c {Shell.Quote(command)}");

    /// <summary>Runs <paramref name="action"/> on a fresh thread that has entered this namespace.</summary>
    public T Invoke<T>(Func<T> action)
    {
        T result = default!;
        Exception? error = null;
        var thread = new Thread(() =>
        {
            try
            {
                Enter(Name);
                result = action();
            }
            catch (Exception e)
            {
                error = e;
            }
        });
        thread.Start();
        thread.Join();
        if (error is not null) throw new AggregateException($"in netns {Name}", error);
        return result;
    }

    public void Invoke(Action action) => Invoke(() => { action(); return 0; });

    /// <summary>Moves the calling thread into the namespace <paramref name="name"/>. Use only on a thread you own.</summary>
    public static void Enter(string name)
    {
        using var handle = File.OpenHandle($"/var/run/netns/{name}");
        if (SetNs((int)handle.DangerousGetHandle(), CLONE_NEWNET) != 0)
            throw new InvalidOperationException($"setns {name}: errno {Marshal.GetLastPInvokeError()}");
    }

    [LibraryImport("libc", EntryPoint = "setns", SetLastError = true)]
    private static partial int SetNs(int fd, int nsType);

    public void Dispose() => Shell.TryRun($"ip netns del {Name}");
}

/// <summary>Runs shell commands on the host.</summary>
public static class Shell
{
    public static string Quote(string s) => "'" + s.Replace("'", "'\\''") + "'";

    public static string Run(string command)
    {
        var (code, stdout, stderr) = Execute(command);
        if (code != 0) throw new InvalidOperationException($"`{command}` exited {code}: {stderr.Trim()}");
        return stdout;
    }

    public static bool TryRun(string command) => Execute(command).Code == 0;

    private static (int Code, string Stdout, string Stderr) Execute(string command)
    {
        var info = new ProcessStartInfo("/bin/sh") { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add(command);
        using var process = Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout, stderr.Result);
    }
}

/// <summary>Waits on a condition with a deadline (no fixed sleeps).</summary>
public static class Wait
{
    public static void Until(Func<bool> condition, TimeSpan timeout, string what)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            if (deadline.Elapsed > timeout) throw new TimeoutException($"timed out after {timeout} waiting for {what}");
            Thread.Sleep(10); // poll interval, not a synchronisation stand-in
        }
    }
}

/// <summary>
/// Two namespaces A and B joined by a veth pair (va in A, vb in B): 10.77.0.1/24 + fd00:77::1/64 on va,
/// 10.77.0.2/24 + fd00:77::2/64 on vb, both up, no default route. Torn down on Dispose.
/// </summary>
public sealed class VethPair : IDisposable
{
    public NetNs A { get; }
    public NetNs B { get; }
    public const string DeviceA = "va", DeviceB = "vb";
    public static readonly System.Net.IPAddress V4A = System.Net.IPAddress.Parse("10.77.0.1"), V4B = System.Net.IPAddress.Parse("10.77.0.2");
    public static readonly System.Net.IPAddress V6A = System.Net.IPAddress.Parse("fd00:77::1"), V6B = System.Net.IPAddress.Parse("fd00:77::2");

    public VethPair()
    {
        string id = Guid.NewGuid().ToString("N")[..6];
        A = NetNs.Create($"rt-{id}-a");
        try
        {
            B = NetNs.Create($"rt-{id}-b");
            Shell.Run($"ip link add {DeviceA} netns {A.Name} type veth peer name {DeviceB} netns {B.Name}");
            A.Run($"ip addr add {V4A}/24 dev {DeviceA} && ip addr add {V6A}/64 dev {DeviceA} nodad && ip link set {DeviceA} up");
            B.Run($"ip addr add {V4B}/24 dev {DeviceB} && ip addr add {V6B}/64 dev {DeviceB} nodad && ip link set {DeviceB} up");
            Wait.Until(() => A.Invoke(() => Interfaces.Get(DeviceA) is { IsUp: true, LinkLocalIPv6: not null })
                          && B.Invoke(() => Interfaces.Get(DeviceB) is { IsUp: true, LinkLocalIPv6: not null }),
                TimeSpan.FromSeconds(10), "veth up with link-local addresses");
        }
        catch
        {
            B?.Dispose();
            A.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        B?.Dispose();
        A.Dispose();
    }
}
