using System.CommandLine;
using Rampart.Vrrp.Demo;

namespace Rampart.Cli;

internal static class DemoCommands
{
    public static Command Build()
    {
        var demo = new Command("demo", "Guided demonstrations that build (and remove) their own network namespaces.");
        var vrrp = new Command("vrrp", "Two routers and a client in namespaces: kill the master, watch the VIP move, time the gap.");
        vrrp.SetAction((_, token) => RunVrrpDemoAsync(token));
        demo.Subcommands.Add(vrrp);

        var name = new Option<string>("--name") { Description = "What to answer", Required = true };
        var port = new Option<int>("--port") { Description = "UDP port", DefaultValueFactory = _ => 7777 };
        var echo = new Command("echo", "UDP service answering with its name (used by the demo and benchmarks).") { name, port };
        echo.Hidden = true;
        echo.SetAction(async (r, token) => { await UdpEcho.RunAsync(r.GetValue(name)!, r.GetValue(port), token); return 0; });
        demo.Subcommands.Add(echo);
        return demo;
    }

    public static Task<int> RunVrrpDemoAsync(CancellationToken token) =>
        new VrrpDemo(Environment.ProcessPath!, Console.Out).RunAsync(token);
}
