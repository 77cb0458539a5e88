using System.CommandLine;

namespace Rampart.Cli;

internal static class VrrpCommands
{
    public static Command Build()
    {
        var vrrp = new Command("vrrp", "Virtual-IP failover with VRRP v2/v3, configured by keepalived.conf.");
        var run = new Command("run", "Run the VRRP daemon in the foreground (SIGTERM: graceful stop, SIGHUP: reload).");
        var check = new Command("check", "Check a keepalived.conf: exit 0 with a summary, or 1 with every error.");
        var status = new Command("status", "Show each VRRP instance of a running daemon: state, priority, master, counters.");
        vrrp.Subcommands.Add(run);
        vrrp.Subcommands.Add(check);
        vrrp.Subcommands.Add(status);
        return vrrp;
    }
}

internal static class DemoCommands
{
    public static Command Build()
    {
        var demo = new Command("demo", "Guided demonstrations that build their own network namespaces.");
        demo.Subcommands.Add(new Command("vrrp", "Two routers and a client in namespaces: kill the master, watch the VIP move."));
        return demo;
    }
}

internal static class UpCommand
{
    public static Command Build() => new("up", "Start Rampart's main job on this machine (for now: the VRRP demo).");
}
