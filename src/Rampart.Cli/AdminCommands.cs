using System.CommandLine;
using System.Globalization;
using Rampart.Common.Config;
using Rampart.Rados.Auth;
using Rampart.Rados.Client;
using Rampart.Rados.Config;
using Rampart.Rados.Mon;

namespace Rampart.Cli;

/// <summary>
/// The ceph-style admin commands (status, pool, osd, auth, config). Each connects to the monitors
/// with <see cref="MonClient"/> as client.admin (or --id/--name) and prints one line on error.
/// </summary>
internal static class AdminCommands
{
    public static Option<string?> ConfOption() => new("--conf", "-c")
    {
        Description = $"rampart.conf (default ${RampartConf.EnvironmentVariable}, else {RampartConf.DefaultPath})",
    };

    public static IEnumerable<Command> Build() => [BuildStatus(), BuildPool(), BuildOsd(), BuildAuth(), BuildConfig(), PgCommands.Build(), RadosCommands.Build()];

    /// <summary>The connection options every admin command takes.</summary>
    internal sealed class Common
    {
        public Option<string?> Conf { get; } = ConfOption();
        public Option<string?> Id { get; } = new("--id") { Description = "Client id: connect as client.ID (default admin)" };
        public Option<string?> Name { get; } = new("--name", "-n") { Description = "Entity to connect as, TYPE.ID (default client.admin)" };

        public Command Add(Command command)
        {
            command.Options.Add(Conf);
            command.Options.Add(Id);
            command.Options.Add(Name);
            return command;
        }

        /// <summary>Runs <paramref name="body"/> with a connected client; any failure is one line on stderr and exit 1.</summary>
        public Func<ParseResult, CancellationToken, Task<int>> Run(Func<ParseResult, MonClient, CancellationToken, Task<int>> body) => async (result, token) =>
        {
            try
            {
                var conf = RampartConf.Load(RampartConf.Resolve(result.GetValue(Conf)));
                string? entity = result.GetValue(Name) ?? (result.GetValue(Id) is { } id ? $"client.{id}" : null);
                await using var client = MonClient.FromConf(conf, entity);
                return await body(result, client, token);
            }
            catch (Exception e) when (e is MonClientException or RadosException or ConfigException or FormatException or IOException or ArgumentException)
            {
                Console.Error.WriteLine(e.Message.ReplaceLineEndings(" "));
                return 1;
            }
        };

        /// <summary>Like <see cref="Run"/> with an object-store client (map subscribed, OSD connections on demand).</summary>
        public Func<ParseResult, CancellationToken, Task<int>> RunRados(Func<ParseResult, RadosClient, CancellationToken, Task<int>> body) =>
            Run(async (r, mon, token) =>
            {
                var conf = RampartConf.Load(RampartConf.Resolve(r.GetValue(Conf)));
                await using var rados = await RadosClient.ConnectAsync(mon, RadosClient.OpTimeoutFrom(conf, mon.Entity.ToString()), token);
                return await body(r, rados, token);
            });
    }

    /// <summary>Prints a command's outcome as ceph does: the status line, an error makes the exit code 1.</summary>
    private static async Task<int> Execute(MonClient client, MonCommand command, CancellationToken token)
    {
        var result = await client.CommandAsync(command, token);
        if (!result.Success)
        {
            Console.Error.WriteLine(result.Message);
            return 1;
        }
        if (result.Message.Length > 0)
            Console.WriteLine(result.Message);
        return 0;
    }

    private static Command BuildStatus()
    {
        var common = new Common();
        var json = new Option<bool>("--json") { Description = "Print JSON" };
        var status = common.Add(new Command("status", "Cluster health, monitors and leader, OSDs up/in, pools, PG states, usage.") { json });
        status.SetAction(common.RunRados(async (r, client, token) =>
        {
            var leader = await client.Monitors.GetLeaderAsync(token);
            var pgs = await PgSummary.CollectAsync(client, token);
            Console.Write(r.GetValue(json) ? AdminViews.StatusJson(client.Map, leader, pgs) + "\n" : AdminViews.Status(client.Map, leader, pgs));
            return 0;
        }));
        return status;
    }

    private static Command BuildPool()
    {
        var pool = new Command("pool", "Create, list, tune and delete pools.");

        var common = new Common();
        var name = new Argument<string>("NAME");
        var pgNum = new Option<uint?>("--pg-num") { Description = "Placement groups (default: ~100 per OSD / size / pools, a power of two)" };
        var size = new Option<int>("--size") { Description = "Replicas", DefaultValueFactory = _ => 3 };
        var minSize = new Option<int>("--min-size") { Description = "Replicas needed to serve I/O", DefaultValueFactory = _ => 2 };
        var rule = new Option<string?>("--rule") { Description = "CRUSH rule (default replicated_rule)" };
        var create = common.Add(new Command("create", "Create a replicated pool.") { name, pgNum, size, minSize, rule });
        create.SetAction(common.Run((r, client, token) => Execute(client,
            new PoolCreate(r.GetValue(name)!, r.GetValue(pgNum), r.GetValue(size), r.GetValue(minSize), r.GetValue(rule)), token)));
        pool.Subcommands.Add(create);

        var lsCommon = new Common();
        var detail = new Argument<string?>("detail") { Arity = ArgumentArity.ZeroOrOne, Description = "'detail' for every property" };
        var ls = lsCommon.Add(new Command("ls", "List pools.") { detail });
        ls.SetAction(lsCommon.Run(async (r, client, token) =>
        {
            var map = await client.GetMapAsync(token);
            foreach (var p in map.Pools.Values)
                Console.WriteLine(r.GetValue(detail) == "detail" ? AdminViews.PoolDetail(p, map) : p.Name);
            return 0;
        }));
        pool.Subcommands.Add(ls);

        var getCommon = new Common();
        var getName = new Argument<string>("NAME");
        var getKey = new Argument<string>("KEY") { Description = string.Join(", ", AdminViews.PoolKeys) };
        var get = getCommon.Add(new Command("get", "Show one property of a pool.") { getName, getKey });
        get.SetAction(getCommon.Run(async (r, client, token) =>
        {
            var map = await client.GetMapAsync(token);
            string poolName = r.GetValue(getName)!, key = r.GetValue(getKey)!;
            if (map.FindPool(poolName) is not { } p)
                throw new MonClientException($"Error ENOENT: unrecognized pool '{poolName}'");
            Console.WriteLine(AdminViews.PoolGet(p, map, key) ?? throw new MonClientException($"Error EINVAL: unknown pool property '{key}' (known: {string.Join(", ", AdminViews.PoolKeys)})"));
            return 0;
        }));
        pool.Subcommands.Add(get);

        var setCommon = new Common();
        var setName = new Argument<string>("NAME");
        var setKey = new Argument<string>("KEY");
        var setValue = new Argument<string>("VALUE");
        var set = setCommon.Add(new Command("set", "Change one property of a pool.") { setName, setKey, setValue });
        set.SetAction(setCommon.Run((r, client, token) => Execute(client, new PoolSet(r.GetValue(setName)!, r.GetValue(setKey)!, r.GetValue(setValue)!), token)));
        pool.Subcommands.Add(set);

        var rmCommon = new Common();
        var rmName = new Argument<string>("NAME");
        var rmConfirm = new Argument<string?>("NAME-AGAIN") { Arity = ArgumentArity.ZeroOrOne };
        var really = new Option<bool>("--yes-i-really-really-mean-it") { Description = "Confirm deleting the pool and all its data" };
        var rm = rmCommon.Add(new Command("rm", "Delete a pool (needs mon_allow_pool_delete true).") { rmName, rmConfirm, really });
        rm.Aliases.Add("delete");
        rm.SetAction(rmCommon.Run((r, client, token) =>
            Execute(client, new PoolDelete(r.GetValue(rmName)!, r.GetValue(rmConfirm) ?? "", r.GetValue(really)), token)));
        pool.Subcommands.Add(rm);
        return pool;
    }

    private static Command BuildOsd()
    {
        var osd = new Command("osd", "OSD state and the CRUSH hierarchy.");

        var treeCommon = new Common();
        var tree = treeCommon.Add(new Command("tree", "The CRUSH hierarchy with OSD state."));
        tree.SetAction(treeCommon.Run(async (r, client, token) =>
        {
            Console.Write(AdminViews.OsdTree(await client.GetMapAsync(token)));
            return 0;
        }));
        osd.Subcommands.Add(tree);

        foreach (var (verb, help) in new[] { ("out", "Mark an OSD out: its data moves elsewhere."), ("in", "Mark an OSD in again.") })
        {
            var common = new Common();
            var id = new Argument<string>("ID") { Description = "N or osd.N" };
            var command = common.Add(new Command(verb, help) { id });
            command.SetAction(common.Run((r, client, token) =>
            {
                int n = ParseOsdId(r.GetValue(id)!);
                return Execute(client, verb == "out" ? new OsdOut(n) : new OsdIn(n), token);
            }));
            osd.Subcommands.Add(command);
        }

        var lostCommon = new Common();
        var lostId = new Argument<string>("ID") { Description = "N or osd.N" };
        var sure = new Option<bool>("--yes-i-really-mean-it") { Description = "Confirm: what only this OSD held is gone" };
        var lost = lostCommon.Add(new Command("lost", "Declare a down OSD gone for good: PGs stop waiting for it.") { lostId, sure });
        lost.SetAction(lostCommon.Run((r, client, token) => Execute(client, new OsdLost(ParseOsdId(r.GetValue(lostId)!), r.GetValue(sure)), token)));
        osd.Subcommands.Add(lost);

        var dfCommon = new Common();
        var df = dfCommon.Add(new Command("df", "Per OSD: weights, disk use, PGs stored, up/down."));
        df.SetAction(dfCommon.RunRados(async (r, client, token) =>
        {
            Console.Write(AdminViews.OsdDf(client.Map, await PgSummary.CollectAsync(client, token)));
            return 0;
        }));
        osd.Subcommands.Add(df);
        osd.Subcommands.Add(OsdCommands.BuildRun());

        var crush = new Command("crush", "Edit the CRUSH hierarchy.");
        var addCommon = new Common();
        var bucket = new Argument<string>("NAME");
        var type = new Argument<string>("TYPE") { Description = "host, rack or root" };
        var addBucket = addCommon.Add(new Command("add-bucket", "Add a bucket (a root until moved).") { bucket, type });
        addBucket.SetAction(addCommon.Run((r, client, token) => Execute(client, new CrushAddBucket(r.GetValue(bucket)!, r.GetValue(type)!), token)));
        crush.Subcommands.Add(addBucket);

        var moveCommon = new Common();
        var item = new Argument<string>("NAME") { Description = "A bucket or osd.N" };
        var parent = new Argument<string>("PARENT") { Description = "Bucket name or TYPE=NAME (root=default)" };
        var move = moveCommon.Add(new Command("move", "Move a bucket or OSD under another bucket.") { item, parent });
        move.SetAction(moveCommon.Run((r, client, token) => Execute(client, new CrushMove(r.GetValue(item)!, r.GetValue(parent)!), token)));
        crush.Subcommands.Add(move);
        osd.Subcommands.Add(crush);
        return osd;
    }

    private static int ParseOsdId(string text) =>
        int.TryParse(text.StartsWith("osd.", StringComparison.Ordinal) ? text[4..] : text, NumberStyles.None, CultureInfo.InvariantCulture, out int id)
            ? id : throw new MonClientException($"Error EINVAL: invalid osd id '{text}' (N or osd.N)");

    private static Command BuildAuth()
    {
        var auth = new Command("auth", "Entities, their keys and caps.");

        var gocCommon = new Common();
        var gocName = new Argument<string>("ENTITY");
        var gocCaps = new Argument<string[]>("CAPS") { Arity = ArgumentArity.ZeroOrMore, Description = "SERVICE 'CAPS' pairs: mon 'allow r' osd 'allow rwx pool=volumes'" };
        var output = new Option<string?>("--output-file", "-o") { Description = "Write the keyring here instead of printing it" };
        var goc = gocCommon.Add(new Command("get-or-create", "The entity's keyring, creating the entity with these caps if new.") { gocName, gocCaps, output });
        goc.SetAction(gocCommon.Run(async (r, client, token) =>
        {
            var name = EntityName.Parse(r.GetValue(gocName)!);
            var caps = AdminViews.ParseCapArgs(r.GetValue(gocCaps) ?? []);
            var result = await client.CommandAsync(new AuthGetOrCreate(name.ToString(), Keyring.GenerateKey(), caps), token);
            if (!result.Success || result.Output is null)
                throw new MonClientException(result.Message);
            var keyring = Keyring.Empty.With(new KeyringEntry(name, Convert.FromBase64String(result.Output),
                caps.Aggregate(Caps.None, (all, c) => all.With(c.Key, c.Value))));
            if (r.GetValue(output) is { } file)
                keyring.Save(file);
            else
                Console.Write(keyring.Format());
            return 0;
        }));
        auth.Subcommands.Add(goc);

        var lsCommon = new Common();
        var ls = lsCommon.Add(new Command("ls", "Every entity with its key and caps."));
        ls.SetAction(lsCommon.Run(async (r, client, token) =>
        {
            Console.Write((await client.GetAuthAsync(token)).Format());
            return 0;
        }));
        auth.Subcommands.Add(ls);

        var getCommon = new Common();
        var getName = new Argument<string>("ENTITY");
        var get = getCommon.Add(new Command("get", "One entity's keyring.") { getName });
        get.SetAction(getCommon.Run(async (r, client, token) =>
        {
            var name = EntityName.Parse(r.GetValue(getName)!);
            var entry = (await client.GetAuthAsync(token)).Find(name) ?? throw new MonClientException($"Error ENOENT: failed to find {name} in keyring");
            Console.Write(Keyring.Empty.With(entry).Format());
            return 0;
        }));
        auth.Subcommands.Add(get);

        var capsCommon = new Common();
        var capsName = new Argument<string>("ENTITY");
        var capsArgs = new Argument<string[]>("CAPS") { Arity = ArgumentArity.OneOrMore };
        var capsCommand = capsCommon.Add(new Command("caps", "Replace an entity's caps.") { capsName, capsArgs });
        capsCommand.SetAction(capsCommon.Run((r, client, token) =>
            Execute(client, new AuthCaps(r.GetValue(capsName)!, AdminViews.ParseCapArgs(r.GetValue(capsArgs)!)), token)));
        auth.Subcommands.Add(capsCommand);

        var rmCommon = new Common();
        var rmName = new Argument<string>("ENTITY");
        var rm = rmCommon.Add(new Command("rm", "Delete an entity.") { rmName });
        rm.Aliases.Add("del");
        rm.SetAction(rmCommon.Run((r, client, token) => Execute(client, new AuthRemove(r.GetValue(rmName)!), token)));
        auth.Subcommands.Add(rm);
        return auth;
    }

    private static Command BuildConfig()
    {
        var config = new Command("config", "Cluster-wide options kept by the monitors.");
        var common = new Common();
        var args = new Argument<string[]>("[WHO] KEY VALUE") { Arity = new ArgumentArity(2, 3), Description = "e.g. mon_allow_pool_delete true (WHO, like ceph's 'mon', is accepted and ignored)" };
        var set = common.Add(new Command("set", "Set a cluster option: mon_allow_pool_delete, mon_osd_down_out_interval, mon_osd_report_timeout, osd_pool_default_size.") { args });
        set.SetAction(common.Run((r, client, token) =>
        {
            var values = r.GetValue(args)!;
            return Execute(client, new SetOption(values[^2], values[^1]), token);
        }));
        config.Subcommands.Add(set);
        return config;
    }
}
