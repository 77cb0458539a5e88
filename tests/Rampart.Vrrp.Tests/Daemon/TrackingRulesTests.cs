using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using Rampart.Common.Processes;
using Rampart.Linux;
using Rampart.Vrrp.Config;
using Rampart.Vrrp.Daemon;

namespace Rampart.Vrrp.Tests.Daemon;

public class TrackingRulesTests
{
    private static VrrpScriptConfig Script(string name, int weight, int rise = 1, int fall = 1, bool reverse = false) =>
        new() { Name = name, Script = "true", Weight = weight, Rise = rise, Fall = fall, WeightReverse = reverse };

    [Fact]
    public void Observe_FallThenRise_ChangesOnlyAfterStreaks()
    {
        var checker = new ScriptChecker(Script("chk", 0, rise: 2, fall: 3), null);

        Assert.Null(checker.Observe(false));
        Assert.Null(checker.Observe(false));
        Assert.Null(checker.Observe(true));      // streak broken
        Assert.Null(checker.Observe(false));
        Assert.Null(checker.Observe(false));
        Assert.False(checker.Observe(false));   // third failure in a row
        Assert.Null(checker.Observe(true));
        Assert.True(checker.Observe(true));     // second success in a row
    }

    private sealed class FakeHost(Dictionary<string, bool> links) : IVrrpHost
    {
        public IVrrpSocket OpenSocket(AddressFamily family, string device, IPAddress? source, bool joinMulticast) => throw new NotSupportedException();
        public InterfaceInfo? GetInterface(string device) =>
            links.TryGetValue(device, out bool up) ? new InterfaceInfo(device, 1, new byte[6], up, IPAddress.Loopback, null) : null;
        public IAddressManager Addresses => throw new NotSupportedException();
        public IAddressAnnouncer Announcer => throw new NotSupportedException();
        public IDisposable WatchLinks(IEnumerable<string> devices, Action<string, bool> onChange) => throw new NotSupportedException();
    }

    private static InstanceRunner Runner(VrrpInstanceConfig config, Dictionary<string, bool> links, params VrrpScriptConfig[] scripts) =>
        new(config, scripts.ToDictionary(s => s.Name), null!, IPAddress.Loopback, new FakeHost(links), NullLogger.Instance);

    private static VrrpInstanceConfig Instance(IReadOnlyList<TrackRef>? scripts = null, IReadOnlyList<TrackRef>? interfaces = null) => new()
    {
        Name = "VI_1", Interface = "eth0", VirtualRouterId = 1, Priority = 100,
        TrackScripts = scripts ?? [], TrackInterfaces = interfaces ?? [],
    };

    private static TrackRef Track(string name, int? weight = null) => new(name, weight, default);

    [Fact]
    public void Evaluate_Weights_FollowKeepalivedRules()
    {
        var runner = Runner(Instance([Track("up", null), Track("down", null), Track("override", -30)]),
            new() { ["eth0"] = true },
            Script("up", 20), Script("down", -10), Script("override", 5));

        Assert.Equal((120, null), runner.Evaluate());   // all succeed: +20 only
        runner.OnScriptAsync(TimeSpan.Zero, "down", false);
        runner.OnScriptAsync(TimeSpan.Zero, "override", false);
        Assert.Equal((100 + 20 - 10 - 30, null), runner.Evaluate());
        runner.OnScriptAsync(TimeSpan.Zero, "up", false);
        Assert.Equal((100 - 10 - 30, null), runner.Evaluate());
    }

    [Fact]
    public void Evaluate_ZeroWeightFailureOrTrackedLinkDown_IsFault()
    {
        var runner = Runner(Instance([Track("chk")], [Track("uplink"), Track("backup", -50)]),
            new() { ["eth0"] = true, ["uplink"] = true, ["backup"] = false },
            Script("chk", 0));

        Assert.Equal((50, null), runner.Evaluate());
        runner.OnLinkAsync(TimeSpan.Zero, "uplink", false);
        Assert.Equal("interface uplink down", runner.Evaluate().Fault);
        runner.OnLinkAsync(TimeSpan.Zero, "uplink", true);
        runner.OnScriptAsync(TimeSpan.Zero, "chk", false);
        Assert.Equal("vrrp_script chk failed", runner.Evaluate().Fault);
    }

    [Fact]
    public void Evaluate_OwnInterfaceDown_FaultUnlessDontTrackPrimary()
    {
        Assert.Equal("interface eth0 down", Runner(Instance(), new() { ["eth0"] = false }).Evaluate().Fault);
        Assert.Null(Runner(Instance() with { DontTrackPrimary = true }, new() { ["eth0"] = false }).Evaluate().Fault);
    }

    [Fact]
    public void ScriptSecurity_WritableScript_IsRefused()
    {
        var dir = Directory.CreateTempSubdirectory("rampart-sec-");
        try
        {
            File.SetUnixFileMode(dir.FullName, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            var script = Path.Combine(dir.FullName, "check.sh");
            File.WriteAllText(script, "#!/bin/sh\n");
            File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            Assert.Null(ScriptSecurity.Problem($"{script} --arg"));

            File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.OtherWrite);
            Assert.Equal($"'{script}' is writable by group or others", ScriptSecurity.Problem(script));
            Assert.Equal("'check.sh' is not an absolute path", ScriptSecurity.Problem("check.sh"));
        }
        finally { dir.Delete(recursive: true); }
    }
}
