using System.CommandLine;
using System.Globalization;
using System.Text;
using Rampart.Rados.Client;

namespace Rampart.Cli;

/// <summary>`rampart rados -p POOL put|get|rm|stat|ls|setomapval|getomapval|listomapkeys|bench`, like Ceph's rados tool.</summary>
internal static class RadosCommands
{
    public static Command Build()
    {
        var rados = new Command("rados", "Objects in a pool: put, get, list, omap, bench.");
        var pool = new Option<string>("--pool", "-p") { Description = "Pool", Required = true, Recursive = true };
        rados.Options.Add(pool);

        Add(rados, pool, "put", "Store FILE (or - for stdin) as OBJECT, replacing it.", ["OBJECT", "FILE"], async (io, a, _, token) =>
        {
            byte[] data = a[1] == "-" ? await ReadStdinAsync(token) : await File.ReadAllBytesAsync(a[1], token);
            await io.WriteFullAsync(a[0], data, token);
        });
        Add(rados, pool, "get", "Write OBJECT to FILE (or - for stdout).", ["OBJECT", "FILE"], async (io, a, _, token) =>
        {
            var data = await io.ReadAllAsync(a[0], token);
            if (a[1] == "-")
            {
                using var stdout = Console.OpenStandardOutput();
                await stdout.WriteAsync(data, token);
            }
            else
            {
                await File.WriteAllBytesAsync(a[1], data, token);
            }
        });
        Add(rados, pool, "rm", "Delete OBJECT.", ["OBJECT"], (io, a, _, token) => io.RemoveAsync(a[0], token));
        Add(rados, pool, "stat", "Size and modification time of OBJECT.", ["OBJECT"], async (io, a, _, token) =>
        {
            var stat = await io.StatAsync(a[0], token);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{io.Pool.Name}/{stat.Name} mtime {stat.MTime.ToLocalTime():yyyy-MM-ddTHH:mm:ss.ffffffzzz}, size {stat.Size}"));
        });
        Add(rados, pool, "ls", "Every object in the pool.", [], async (io, _, _, token) =>
        {
            await foreach (var name in io.ListObjectsAsync(token))
                Console.WriteLine(name);
        });
        Add(rados, pool, "setomapval", "Set omap KEY of OBJECT to VALUE.", ["OBJECT", "KEY", "VALUE"], (io, a, _, token) =>
            io.OmapSetAsync(a[0], [new(a[1], Encoding.UTF8.GetBytes(a[2]))], token));
        Add(rados, pool, "getomapval", "Print omap KEY of OBJECT.", ["OBJECT", "KEY"], async (io, a, _, token) =>
        {
            var values = await io.OmapGetAsync(a[0], [a[1]], token);
            if (!values.TryGetValue(a[1], out var value))
                throw new RadosException($"Error ENOENT: no key '{a[1]}' in the omap of '{a[0]}'");
            Console.WriteLine(Encoding.UTF8.GetString(value));
        });
        Add(rados, pool, "listomapkeys", "Every omap key of OBJECT.", ["OBJECT"], async (io, a, _, token) =>
        {
            foreach (var pair in await io.OmapListAsync(a[0], token))
                Console.WriteLine(pair.Key);
        });
        Add(rados, pool, "rmomapkey", "Remove omap KEY of OBJECT.", ["OBJECT", "KEY"], (io, a, _, token) => io.OmapRemoveAsync(a[0], [a[1]], token));
        rados.Subcommands.Add(BuildBench(pool));
        return rados;
    }

    private static void Add(Command rados, Option<string> pool, string name, string description, string[] arguments,
        Func<IoContext, string[], ParseResult, CancellationToken, Task> body)
    {
        var common = new AdminCommands.Common();
        var args = arguments.Select(a => new Argument<string>(a)).ToArray();
        var command = common.Add(new Command(name, description));
        foreach (var arg in args)
            command.Arguments.Add(arg);
        command.SetAction(common.RunRados(async (r, client, token) =>
        {
            var io = client.OpenPool(r.GetValue(pool)!);
            await body(io, args.Select(a => r.GetValue(a)!).ToArray(), r, token);
            return 0;
        }));
        rados.Subcommands.Add(command);
    }

    private static async Task<byte[]> ReadStdinAsync(CancellationToken token)
    {
        using var stdin = Console.OpenStandardInput();
        using var buffer = new MemoryStream();
        await stdin.CopyToAsync(buffer, token);
        return buffer.ToArray();
    }

    private static Command BuildBench(Option<string> pool)
    {
        var common = new AdminCommands.Common();
        var seconds = new Argument<int>("SECONDS");
        var mode = new Argument<string>("MODE") { Description = "write, seq or rand" };
        mode.AcceptOnlyFromAmong("write", "seq", "rand");
        var size = new Option<string>("-b") { Description = "Object size (write), e.g. 4096, 4K, 4M", DefaultValueFactory = _ => "4M" };
        var threads = new Option<int>("-t") { Description = "Ops in flight", DefaultValueFactory = _ => 16 };
        var objects = new Option<long>("--objects") { Description = "write: cycle over this many objects (overwrites) instead of a new one per op" };
        var noCleanup = new Option<bool>("--no-cleanup") { Description = "Keep the written objects (for a later seq or rand run)" };
        var json = new Option<bool>("--json") { Description = "Print one JSON object" };
        var bench = common.Add(new Command("bench", "Write or read objects for SECONDS with -t ops in flight; ops/s, MB/s, latency percentiles.") { seconds, mode, size, threads, objects, noCleanup, json });
        bench.SetAction(common.RunRados(async (r, client, token) =>
        {
            var io = client.OpenPool(r.GetValue(pool)!);
            int blockSize = ParseSize(r.GetValue(size)!);
            int t = r.GetValue(threads);
            if (t is < 1 or > 1024 || r.GetValue(seconds) < 1)
                throw new ArgumentException("Error EINVAL: -t must be 1..1024 and SECONDS at least 1");
            bool quiet = r.GetValue(json) || Console.IsOutputRedirected;
            var result = await RadosBench.RunAsync(io, r.GetValue(mode)!, TimeSpan.FromSeconds(r.GetValue(seconds)), blockSize, t,
                Math.Max(0, r.GetValue(objects)), quiet ? null : Console.WriteLine, token);
            if (result.Mode == "write" && !r.GetValue(noCleanup))
                await RadosBench.CleanupAsync(io, token);
            Console.Write(r.GetValue(json) ? result.Json() + "\n" : result.Text());
            return result.Errors == 0 ? 0 : 1;
        }));
        return bench;
    }

    private static int ParseSize(string text)
    {
        long unit = char.ToUpperInvariant(text[^1]) switch { 'K' => 1024, 'M' => 1 << 20, _ => 1 };
        string digits = unit == 1 ? text : text[..^1];
        return long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out long n) && n * unit is > 0 and <= 64 << 20
            ? (int)(n * unit)
            : throw new ArgumentException($"Error EINVAL: -b '{text}' is not a size up to 64M");
    }
}
