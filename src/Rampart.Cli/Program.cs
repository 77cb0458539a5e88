using System.CommandLine;
using Rampart.Cli;

// Storage daemons and clients take socket completions on the socket thread instead of hopping through the thread
// pool: one thread switch less per message, and switches are what these VMs pay most for (bench/rados: 10–25 % more
// 4 KiB writes). Their socket code never blocks a completion (Connection hands blocking steps to the pool); the
// monitors' Raft library, VRRP and SQL keep the default. Read once, at the first socket, hence set this early.
const string inlineCompletions = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";
if (args is ["osd" or "rados" or "rbd" or "nbd", ..] && Environment.GetEnvironmentVariable(inlineCompletions) is null)
    Environment.SetEnvironmentVariable(inlineCompletions, "1");

if (RuntimeHandover.Run(args) is { } failed)
    return failed;

var root = new RootCommand("Rampart: virtual-IP failover (VRRP), replicated storage and SQL failover in one tool.");
root.Subcommands.Add(UpCommand.Build());
root.Subcommands.Add(VrrpCommands.Build());
root.Subcommands.Add(DemoCommands.Build());
root.Subcommands.Add(MonCommands.Build());
root.Subcommands.Add(RbdCommands.Build());
root.Subcommands.Add(NbdCommands.Build());
root.Subcommands.Add(SqlCommands.Build());
root.Subcommands.Add(DaemonCommand.Build());
foreach (var command in AdminCommands.Build()) root.Subcommands.Add(command);

var parsed = root.Parse(args);
if (parsed.Errors.Count > 0)
{
    // CLI misuse: one line and a non-zero exit, not a page of help.
    var command = string.Join(' ', parsed.CommandResult.Command is var c && c != root ? ["rampart", .. CommandPath(parsed.CommandResult)] : ["rampart"]);
    // "Unrecognized command or argument 'x'" says more than "Required command was not provided".
    var error = parsed.Errors.FirstOrDefault(e => e.Message.StartsWith("Unrecognized", StringComparison.Ordinal)) ?? parsed.Errors[0];
    Console.Error.WriteLine($"{command}: {error.Message} (see '{command} --help')");
    return 2;
}
return await parsed.InvokeAsync();

static IEnumerable<string> CommandPath(System.CommandLine.Parsing.CommandResult result)
{
    var names = new Stack<string>();
    for (var r = result; r?.Parent is not null; r = r.Parent as System.CommandLine.Parsing.CommandResult) names.Push(r.Command.Name);
    return names;
}
