using System.Diagnostics;

namespace Rampart.Linux.Tests;

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
    public NetworkNamespace A { get; }
    public NetworkNamespace B { get; }
    public const string DeviceA = "va", DeviceB = "vb";
    public static readonly System.Net.IPAddress V4A = System.Net.IPAddress.Parse("10.77.0.1"), V4B = System.Net.IPAddress.Parse("10.77.0.2");
    public static readonly System.Net.IPAddress V6A = System.Net.IPAddress.Parse("fd00:77::1"), V6B = System.Net.IPAddress.Parse("fd00:77::2");

    public VethPair()
    {
        string id = Guid.NewGuid().ToString("N")[..6];
        A = CreateWithoutDad($"rt-{id}-a");
        try
        {
            B = CreateWithoutDad($"rt-{id}-b");
            Shell.Run($"ip link add {DeviceA} netns {A.Name} type veth peer name {DeviceB} netns {B.Name}");
            A.Run($"ip addr add {V4A}/24 dev {DeviceA} && ip addr add {V6A}/64 dev {DeviceA} nodad && ip link set {DeviceA} up");
            B.Run($"ip addr add {V4B}/24 dev {DeviceB} && ip addr add {V6B}/64 dev {DeviceB} nodad && ip link set {DeviceB} up");
            Wait.Until(() => A.Enter(() => Interfaces.Get(DeviceA) is { IsUp: true, LinkLocalIPv6: not null })
                          && B.Enter(() => Interfaces.Get(DeviceB) is { IsUp: true, LinkLocalIPv6: not null }),
                TimeSpan.FromSeconds(10), "veth up with link-local addresses");
        }
        catch
        {
            B?.Dispose();
            A.Dispose();
            throw;
        }
    }

    /// <summary>IPv6 duplicate address detection off, so addresses are usable at once.</summary>
    private static NetworkNamespace CreateWithoutDad(string name)
    {
        var ns = NetworkNamespace.Create(name);
        ns.Run("sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0");
        return ns;
    }

    public void Dispose()
    {
        B?.Dispose();
        A.Dispose();
    }
}
