using System.CommandLine;
using Rampart.Rados.Client;
using Rampart.Rados.Placement;

namespace Rampart.Cli;

/// <summary>`rampart pg stat|ls|map|scrub|deep-scrub`.</summary>
internal static class PgCommands
{
    public static Command Build()
    {
        var pg = new Command("pg", "Placement groups: states, placement, scrubbing.");

        var statCommon = new AdminCommands.Common();
        var stat = statCommon.Add(new Command("stat", "PG counts by state, objects, space used."));
        stat.SetAction(statCommon.RunRados(async (r, client, token) =>
        {
            Console.WriteLine(AdminViews.PgStat(await PgSummary.CollectAsync(client, token)));
            return 0;
        }));
        pg.Subcommands.Add(stat);

        var lsCommon = new AdminCommands.Common();
        var lsPool = new Argument<string?>("POOL") { Arity = ArgumentArity.ZeroOrOne, Description = "Only this pool's PGs" };
        var ls = lsCommon.Add(new Command("ls", "Every PG with its state and up/acting OSDs.") { lsPool });
        ls.SetAction(lsCommon.RunRados(async (r, client, token) =>
        {
            var map = client.Map;
            long? poolId = r.GetValue(lsPool) is { } name ? (map.FindPool(name) ?? throw new RadosException($"Error ENOENT: pool '{name}' does not exist")).Id : null;
            var summary = await PgSummary.CollectAsync(client, token);
            Console.WriteLine($"{"PG",-8} {"STATE",-32} ACTING");
            foreach (var (id, state) in summary.States.Where(s => poolId is null || s.Key.PoolId == poolId).OrderBy(s => s.Key.PoolId).ThenBy(s => s.Key.Seed))
                Console.WriteLine($"{id,-8} {state,-32} [{string.Join(",", map.ActingSet(id))}]");
            return 0;
        }));
        pg.Subcommands.Add(ls);

        var mapCommon = new AdminCommands.Common();
        var pool = new Argument<string>("POOL");
        var obj = new Argument<string>("OBJECT");
        var mapCommand = mapCommon.Add(new Command("map", "Which PG and OSDs hold an object (computed from the map, like every client does).") { pool, obj });
        mapCommand.SetAction(mapCommon.Run(async (r, client, token) =>
        {
            var map = await client.GetMapAsync(token);
            var p = map.FindPool(r.GetValue(pool)!) ?? throw new MonClientException($"Error ENOENT: pool '{r.GetValue(pool)}' does not exist");
            Console.WriteLine(AdminViews.PgMap(map, p, r.GetValue(obj)!));
            return 0;
        }));
        pg.Subcommands.Add(mapCommand);

        foreach (var deep in new[] { false, true })
        {
            var common = new AdminCommands.Common();
            var id = new Argument<string>("PGID") { Description = "POOL.SEED, e.g. 1.1f" };
            var scrub = common.Add(new Command(deep ? "deep-scrub" : "scrub",
                deep ? "Compare every replica's data and omap checksums and stored chunk CRCs now; repair from a good copy."
                     : "Compare every replica's object list, sizes and versions now; repair from a good copy.") { id });
            scrub.SetAction(common.RunRados(async (r, client, token) =>
            {
                var result = await client.ScrubAsync(PgId.Parse(r.GetValue(id)!), deep, token);
                Console.WriteLine($"pg {result.Pg} {(deep ? "deep-scrub" : "scrub")} ok: {result.Objects} objects, {result.Inconsistent.Count} inconsistent, {result.Repaired} repaired");
                foreach (var line in result.Inconsistent)
                    Console.WriteLine($"  {line}");
                return 0;
            }));
            pg.Subcommands.Add(scrub);
        }
        return pg;
    }
}
