using Rampart.Vrrp.Config;

namespace Rampart.Vrrp.Tests.Config;

/// <summary>include PATTERN against a real temporary directory.</summary>
public sealed class KeepalivedIncludeTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rampart-config-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string relative, string text)
    {
        var path = Path.Combine(_dir, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
        return path;
    }

    private static string Instance(string name, int vrid) =>
        $"vrrp_instance {name} {{\n interface eth0\n virtual_router_id {vrid}\n}}\n";

    [Fact]
    public void ParseFile_GlobInclude_ReadsMatchesInSortedOrderRelativeToIncluder()
    {
        Write("conf.d/20-b.conf", Instance("VI_B", 2));
        Write("conf.d/10-a.conf", Instance("VI_A", 1));
        Write("conf.d/notes.txt", "this is not config {");
        Write("conf.d/.hidden.conf", Instance("VI_HIDDEN", 3));
        Write("conf.d/3x.conf", Instance("VI_3X", 4));
        var main = Write("keepalived.conf", "global_defs {\n router_id r1\n}\ninclude conf.d/[0-9][0-9]-?.conf # two digits\n");

        var result = KeepalivedConfigParser.ParseFile(main);

        Assert.Empty(result.Diagnostics);
        Assert.Equal(["VI_A", "VI_B"], result.Config!.Instances.Select(i => i.Name));
        Assert.Equal(new SourceLocation(Path.Combine(_dir, "conf.d/10-a.conf"), 1), result.Config.Instances[0].Location);
        Assert.Equal("r1", result.Config.Global.RouterId);
    }

    [Fact]
    public void ParseFile_NestedIncludesInsideBlock_AreSpliced()
    {
        Write("sub/vips.conf", "10.0.0.1\ninclude more/*.conf\n");
        Write("sub/more/v.conf", "10.0.0.2/24\n");
        Write("sub/instance.conf", "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n  include vips.conf\n }\n}\n");
        var main = Write("keepalived.conf", "include sub/instance.conf\n");

        var result = KeepalivedConfigParser.ParseFile(main);

        Assert.Empty(result.Diagnostics);
        Assert.Equal(["10.0.0.1/32", "10.0.0.2/24"], result.Config!.Instances[0].VirtualAddresses.Select(v => v.ToString()));
    }

    [Fact]
    public void ParseText_IncludeRelativeToBaseDirectory()
    {
        Write("a.conf", Instance("VI_A", 1));

        var result = KeepalivedConfigParser.ParseText("include *.conf\n", "inline.conf", _dir);

        Assert.Equal(["VI_A"], result.Config!.Instances.Select(i => i.Name));
    }

    [Fact]
    public void ParseFile_IncludeMatchingNothing_Warns()
    {
        var main = Write("keepalived.conf", Instance("VI_A", 1) + "include /nonexistent-rampart/*.conf\ninclude missing.conf\n");

        var result = KeepalivedConfigParser.ParseFile(main);

        Assert.Equal(
            [
                $"{main}:5: warning: include: no file matches '/nonexistent-rampart/*.conf'; ignored",
                $"{main}:6: warning: include: no file matches 'missing.conf'; ignored",
            ], result.Diagnostics.Select(d => d.ToString()));
        Assert.NotNull(result.Config);
    }

    [Fact]
    public void Rejects_IncludeCycle()
    {
        var a = Write("a.conf", "include b.conf\n");
        var b = Write("b.conf", "\ninclude a.conf\n");

        var result = KeepalivedConfigParser.ParseFile(a);

        Assert.Null(result.Config);
        Assert.Equal(
            [$"{b}:2: error: include: include cycle {a} -> {b} -> {a}; remove one of these includes"],
            result.Diagnostics.Select(d => d.ToString()));
    }

    [Fact]
    public void Rejects_IncludeNestedTooDeep()
    {
        for (var i = 0; i < 12; i++)
        {
            Write($"d{i}.conf", $"include d{i + 1}.conf\n");
        }
        Write("d12.conf", "");

        var result = KeepalivedConfigParser.ParseFile(Path.Combine(_dir, "d0.conf"));

        Assert.Null(result.Config);
        var error = Assert.Single(result.Diagnostics);
        Assert.Equal(
            $"{Path.Combine(_dir, "d8.conf")}:1: error: include: '{Path.Combine(_dir, "d9.conf")}' is nested deeper than 8 includes; flatten the includes",
            error.ToString());
    }

    [Fact]
    public void Rejects_IncludeWithoutPattern()
    {
        var result = KeepalivedConfigParser.ParseText(Instance("VI_A", 1) + "include\n");

        Assert.Equal(
            ["keepalived.conf:5: error: include: include needs a file pattern; write 'include /etc/keepalived/conf.d/*.conf'"],
            result.Diagnostics.Select(d => d.ToString()));
    }

    [Fact]
    public void Rejects_UnreadableIncludedFile()
    {
        var directory = Path.Combine(_dir, "dir.conf");
        Directory.CreateDirectory(directory);
        var main = Write("keepalived.conf", Instance("VI_A", 1) + "include d*.conf\n");

        var result = KeepalivedConfigParser.ParseFile(main);

        Assert.Null(result.Config);
        var error = Assert.Single(result.Diagnostics);
        Assert.StartsWith($"{main}:5: error: include: cannot read '{directory}': ", error.ToString());
    }

    [Fact]
    public void Rejects_MissingMainFile()
    {
        var path = Path.Combine(_dir, "absent.conf");

        var result = KeepalivedConfigParser.ParseFile(path);

        Assert.Null(result.Config);
        var error = Assert.Single(result.Diagnostics);
        Assert.StartsWith($"{path}:0: error: file: cannot read '{path}': ", error.ToString());
    }
}
