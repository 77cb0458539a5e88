using System.CommandLine;
using Rampart.Cli;

var root = new RootCommand("Rampart: virtual-IP failover (VRRP), replicated storage and SQL failover in one tool.");
root.Subcommands.Add(VrrpCommands.Build());
root.Subcommands.Add(DemoCommands.Build());
root.Subcommands.Add(UpCommand.Build());
return await root.Parse(args).InvokeAsync();
