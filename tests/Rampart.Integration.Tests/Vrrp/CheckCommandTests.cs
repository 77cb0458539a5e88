using System.Diagnostics;

using Rampart.Testing;

namespace Rampart.Integration.Tests.Vrrp;

/// <summary>`rampart vrrp check` and CLI misuse, through the real executable.</summary>
public class CheckCommandTests
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var start = new ProcessStartInfo(RampartCli.Path) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) start.ArgumentList.Add(a);
        using var p = Process.Start(start)!;
        var err = p.StandardError.ReadToEndAsync();
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, output, err.Result);
    }

    [Fact]
    public void Check_ValidFile_ExitZeroWithSummary()
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, VrrpLab.Config("r1", 150));
            var (code, output, _) = Run("vrrp", "check", "-f", file);
            Assert.Equal(0, code);
            Assert.Contains("configuration OK: 1 vrrp_instance", output);
            Assert.Contains("VI_1: VRRPv3 vrid 51 on eth0, priority 150", output);
        }
        finally { File.Delete(file); }
    }

    [Fact]
    public void Check_BrokenFile_ExitOneWithFileLineKeyword()
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, VrrpLab.Config("r1", 300));
            var (code, _, error) = Run("vrrp", "check", "-f", file);
            Assert.Equal(1, code);
            Assert.Contains($"{Path.GetFileName(file)}:", error);
            Assert.Contains("priority", error);
            Assert.Contains("300", error);
        }
        finally { File.Delete(file); }
    }

    [Fact]
    public void Misuse_OneLineAndNonZeroExit()
    {
        var (code, output, error) = Run("vrrp", "run", "--no-such-option");
        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.Single(error.Trim().Split('\n'));
        Assert.Contains("--no-such-option", error);
    }
}
