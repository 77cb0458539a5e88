using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Rampart.Cli;

/// <summary>
/// `./rampart` is a native (AOT) build: a client command starts in ~10 ms instead of ~90 and spends no time loading
/// types (status, snap create, clone: 0.3-0.4 s before, 0.04-0.08 s after). The long-running commands - daemons, and
/// the few that serialize JSON by reflection or open RocksDB - run on the .NET runtime (a ReadyToRun build in
/// runtime/ beside this one; tiered JIT makes their hot paths as fast as they get): the native process replaces
/// itself with that one (execve: same pid, same open files, same signals), so it is one program to users and tests.
/// </summary>
internal static partial class RuntimeHandover
{
    /// <summary>Commands that need the runtime build.</summary>
    public static bool NeedsRuntime(string[] args) => args switch
    {
        ["mon" or "osd", "run", ..] => true,
        ["up" or "vrrp" or "demo" or "nbd" or "sql", ..] => true,
        _ => false,
    };

    /// <summary>Null when this process runs the command itself; otherwise the exit code of a failed handover.</summary>
    public static int? Run(string[] args)
    {
        if (RuntimeFeature.IsDynamicCodeSupported || !NeedsRuntime(args))
            return null;
        string target = Path.Combine(AppContext.BaseDirectory, "runtime", "rampart");
        if (!File.Exists(target))
        {
            Console.Error.WriteLine($"rampart {args[0]}: the runtime build {target} is missing (./rampart builds it)");
            return 1;
        }
        Exec(target, [target, .. args], [.. Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>().Select(e => $"{e.Key}={e.Value}")]);
        Console.Error.WriteLine($"rampart {args[0]}: cannot start {target}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        return 1;
    }

    /// <summary>execve(2); returns only when it failed.</summary>
    private static void Exec(string path, string[] argv, string[] environment)
    {
        static nint[] Strings(string[] values) => [.. values.Select(Marshal.StringToCoTaskMemUTF8), 0];
        nint file = Marshal.StringToCoTaskMemUTF8(path);
        nint[] args = Strings(argv), env = Strings(environment);
        unsafe
        {
            fixed (nint* a = args, e = env)
                _ = execve(file, a, e);
        }
        foreach (var p in args.Concat(env).Append(file)) Marshal.FreeCoTaskMem(p);
    }

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int execve(nint path, nint* argv, nint* envp);
}
