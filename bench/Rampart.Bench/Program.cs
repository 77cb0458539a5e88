using System.CommandLine;
using Rampart.Bench;

var root = new RootCommand("Rampart benchmarks against the reference systems.");
root.Subcommands.Add(VrrpBench.Command());
return await root.Parse(args).InvokeAsync();
