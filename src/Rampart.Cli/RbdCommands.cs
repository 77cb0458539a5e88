using System.CommandLine;
using System.Globalization;
using Rampart.Rados.Client;
using Rampart.Rbd;
using Rampart.Rbd.Diff;
using Rampart.Rbd.Images;
using Spectre.Console;

namespace Rampart.Cli;

/// <summary>`rampart rbd …`: block images on the object store, with the rbd tool's verbs and wording.</summary>
internal static class RbdCommands
{
    public static Command Build()
    {
        var rbd = new Command("rbd", "Block images: create, snapshot, clone, export, diff, bench.");
        var size = new Option<string>("--size", "-s") { Description = "Size, e.g. 10G, 512M, 4096B (a bare number is MiB, as in rbd)", Required = true };
        var objectSize = new Option<string?>("--object-size") { Description = "Data object size, a power of two from 4K to 32M (default 4M)" };

        Add(rbd, new Command("create", "Create a thin image.") { size, objectSize }, ["IMAGE"], async (r, client, a, token) =>
        {
            var spec = Spec(a[0], snap: false);
            await new RbdPool(client, spec.Pool).CreateAsync(spec.Image, Sizes.Parse(r.GetValue(size)!, "--size"), Order(r.GetValue(objectSize)), cancellationToken: token);
        });

        var longList = new Option<bool>("--long", "-l") { Description = "Size, parent and snapshots of each image" };
        var ls = new Command("ls", "List the images of POOL (default rbd).") { longList };
        var poolArg = new Argument<string>("POOL") { DefaultValueFactory = _ => ImageSpec.DefaultPool };
        ls.Arguments.Add(poolArg);
        Add(rbd, ls, [], async (r, client, _, token) =>
        {
            var pool = new RbdPool(client, r.GetValue(poolArg)!);
            var names = await pool.ListAsync(token);
            if (!r.GetValue(longList))
            {
                foreach (var name in names) Console.WriteLine(name);
                return;
            }
            var table = new Table().NoBorder().AddColumns("NAME", "SIZE", "PARENT", "FMT", "PROT", "LOCK");
            foreach (var name in names)
            {
                await using var image = await Image.OpenAsync(client, new ImageSpec(pool.Name, name), token);
                table.AddRow(Markup.Escape(name), Sizes.Format(image.Size), Markup.Escape(await ParentTextAsync(client, image, token)), "2", "", "");
                foreach (var snap in image.Header.Snaps)
                    table.AddRow(Markup.Escape($"{name}@{snap.Name}"), Sizes.Format(snap.Size), "", "2", snap.Protected ? "yes" : "", "");
            }
            AnsiConsole.Write(table);
        });

        Add(rbd, new Command("info", "Size, objects, snapshots, parent and overlap of IMAGE."), ["IMAGE"], async (r, client, a, token) =>
        {
            await using var image = await Image.OpenAsync(client, Spec(a[0], snap: true), token);
            var h = image.Header;
            Console.WriteLine($"rbd image '{image.Spec.Image}':");
            Console.WriteLine($"\tsize {Sizes.Format(image.Size)} in {Extents.ObjectCount(image.Size, h.Order)} objects");
            Console.WriteLine($"\torder {h.Order} ({Sizes.Format(h.ObjectSize)} objects)");
            Console.WriteLine($"\tsnapshot_count: {h.Snaps.Count}");
            Console.WriteLine($"\tid: {h.Id}");
            Console.WriteLine($"\tblock_name_prefix: rbd_data.{h.Id}");
            Console.WriteLine($"\tformat: 2");
            Console.WriteLine($"\tcreate_timestamp: {h.Created.ToLocalTime():ddd MMM d HH:mm:ss yyyy}");
            if (image.Snap is { } snap)
                Console.WriteLine($"\tprotected: {(snap.Protected ? "True" : "False")}");
            if (h.Parent is not null)
            {
                Console.WriteLine($"\tparent: {await ParentTextAsync(client, image, token)}");
                Console.WriteLine($"\toverlap: {Sizes.Format(image.ParentOverlap)}");
            }
        });

        var allowShrink = new Option<bool>("--allow-shrink") { Description = "Permit shrinking (the data past the new end is lost)" };
        Add(rbd, new Command("resize", "Grow IMAGE (or shrink it, with --allow-shrink).") { size, allowShrink }, ["IMAGE"], async (r, client, a, token) =>
        {
            await using var image = await Image.OpenAsync(client, Spec(a[0], snap: false), token);
            await image.ResizeAsync(Sizes.Parse(r.GetValue(size)!, "--size"), r.GetValue(allowShrink), token);
            Console.Error.WriteLine("Resizing image: 100% complete...done.");
        });

        Add(rbd, new Command("rename", "Rename an image (within its pool)."), ["SOURCE", "DEST"], async (r, client, a, token) =>
        {
            var from = Spec(a[0], snap: false);
            var to = Spec(a[1].Contains('/', StringComparison.Ordinal) ? a[1] : $"{from.Pool}/{a[1]}", snap: false);
            if (to.Pool != from.Pool)
                throw new RbdException("EINVAL", "rename works within one pool");
            await new RbdPool(client, from.Pool).RenameAsync(from.Image, to.Image, token);
        });

        Add(rbd, new Command("rm", "Remove an image and its data (refused while it has snapshots)."), ["IMAGE"], async (r, client, a, token) =>
        {
            var spec = Spec(a[0], snap: false);
            await WithProgressAsync("Removing image", p => new RbdPool(client, spec.Pool).RemoveAsync(spec.Image, p, token));
        });

        Add(rbd, new Command("du", "Provisioned and used bytes of IMAGE."), ["IMAGE"], async (r, client, a, token) =>
        {
            await using var image = await Image.OpenAsync(client, Spec(a[0], snap: false), token);
            long used = await image.UsedBytesAsync(token);
            Console.WriteLine("NAME\tPROVISIONED\tUSED");
            Console.WriteLine($"{image.Spec.Image}\t{Sizes.Format(image.Size)}\t{Sizes.Format(used)}");
        });

        rbd.Subcommands.Add(BuildSnap());

        Add(rbd, new Command("clone", "Clone protected snapshot PARENT@SNAP into CHILD, in O(1)."), ["PARENT@SNAP", "CHILD"], async (r, client, a, token) =>
        {
            var parent = Spec(a[0], snap: true);
            var child = Spec(a[1], snap: false);
            await new RbdPool(client, child.Pool).CloneAsync(parent, child.Image, cancellationToken: token);
        });
        Add(rbd, new Command("children", "The clones of IMAGE@SNAP."), ["IMAGE@SNAP"], async (r, client, a, token) =>
        {
            var spec = Spec(a[0], snap: true);
            await using var image = await Image.OpenAsync(client, spec.WithoutSnap(), token);
            foreach (var child in await image.ChildrenAsync(spec.Snap!, token))
                Console.WriteLine(child);
        });
        Add(rbd, new Command("flatten", "Copy everything a clone reads from its parent into it, and detach it."), ["IMAGE"], async (r, client, a, token) =>
        {
            await using var image = await Image.OpenAsync(client, Spec(a[0], snap: false), token);
            await WithProgressAsync("Image flatten", p => image.FlattenAsync(p, token));
        });

        Add(rbd, new Command("export", "Write IMAGE[@SNAP] to FILE (or - for stdout)."), ["IMAGE", "FILE"], async (r, client, a, token) =>
        {
            await using var image = await Image.OpenAsync(client, Spec(a[0], snap: true), token);
            await using var output = OpenOutput(a[1]);
            await WithProgressAsync("Exporting image", p => ImageTransfer.ExportAsync(image, output, p, token));
        });
        Add(rbd, new Command("import", "Create IMAGE from FILE (or - for stdin); zero blocks are not stored.") { objectSize }, ["FILE", "IMAGE"], async (r, client, a, token) =>
        {
            var spec = Spec(a[1], snap: false);
            await using var input = a[0] == "-" ? Console.OpenStandardInput() : File.OpenRead(a[0]);
            await WithProgressAsync("Importing image", p => ImageTransfer.ImportAsync(input, new RbdPool(client, spec.Pool), spec.Image, Order(r.GetValue(objectSize)), p, token));
        });
        var fromSnap = new Option<string?>("--from-snap") { Description = "Only what changed since this snapshot" };
        Add(rbd, new Command("export-diff", "Write the changes of IMAGE[@SNAP] (since --from-snap, else all data) to FILE or - as an rbd diff v1 stream.") { fromSnap },
            ["IMAGE", "FILE"], async (r, client, a, token) =>
        {
            await using var image = await Image.OpenAsync(client, Spec(a[0], snap: true), token);
            await using var output = OpenOutput(a[1]);
            await WithProgressAsync("Exporting image", p => ImageTransfer.ExportDiffAsync(image, r.GetValue(fromSnap), output, p, token));
        });
        Add(rbd, new Command("import-diff", "Apply an rbd diff from FILE (or -) to IMAGE, after checking it applies there."), ["FILE", "IMAGE"], async (r, client, a, token) =>
        {
            await using var image = await Image.OpenAsync(client, Spec(a[1], snap: false), token);
            await using var input = a[0] == "-" ? Console.OpenStandardInput() : File.OpenRead(a[0]);
            await WithProgressAsync("Importing image diff", p => ImageTransfer.ImportDiffAsync(input, image, p, token));
        });

        AddBench(rbd);
        return rbd;
    }

    private static Command BuildSnap()
    {
        var snap = new Command("snap", "Snapshots: create, ls, rm, rollback, protect, unprotect, purge.");
        Add(snap, new Command("create", "Take a snapshot (O(1))."), ["IMAGE@SNAP"], (r, client, a, token) => OnSnap(client, a[0], (i, s) => i.CreateSnapAsync(s, token), token));
        Add(snap, new Command("rm", "Remove a snapshot (refused while protected)."), ["IMAGE@SNAP"], (r, client, a, token) => OnSnap(client, a[0], (i, s) => i.RemoveSnapAsync(s, token), token));
        Add(snap, new Command("protect", "Protect a snapshot from removal (needed before cloning it)."), ["IMAGE@SNAP"], (r, client, a, token) => OnSnap(client, a[0], (i, s) => i.SetProtectedAsync(s, true, token), token));
        Add(snap, new Command("unprotect", "Allow removal again (refused while clones exist)."), ["IMAGE@SNAP"], (r, client, a, token) => OnSnap(client, a[0], (i, s) => i.SetProtectedAsync(s, false, token), token));
        Add(snap, new Command("rollback", "Make the image what the snapshot was."), ["IMAGE@SNAP"], (r, client, a, token) =>
            OnSnap(client, a[0], (i, s) => WithProgressAsync("Rolling back to snapshot", p => i.RollbackAsync(s, p, token)), token));
        Add(snap, new Command("purge", "Remove every unprotected snapshot of IMAGE."), ["IMAGE"], async (r, client, a, token) =>
        {
            await using var image = await Image.OpenAsync(client, Spec(a[0], snap: false), token);
            await image.PurgeSnapsAsync(token);
        });
        Add(snap, new Command("ls", "The snapshots of IMAGE."), ["IMAGE"], async (r, client, a, token) =>
        {
            await using var image = await Image.OpenAsync(client, Spec(a[0], snap: false), token);
            if (image.Header.Snaps.Count == 0) return;
            var table = new Table().NoBorder().AddColumns("SNAPID", "NAME", "SIZE", "PROTECTED", "TIMESTAMP");
            foreach (var s in image.Header.Snaps)
                table.AddRow(s.Id.ToString(CultureInfo.InvariantCulture), Markup.Escape(s.Name), Sizes.Format(s.Size), s.Protected ? "yes" : "", s.Created.ToLocalTime().ToString("ddd MMM d HH:mm:ss yyyy", CultureInfo.InvariantCulture));
            AnsiConsole.Write(table);
        });
        return snap;
    }

    private static async Task OnSnap(RadosClient client, string text, Func<Image, string, Task> action, CancellationToken token)
    {
        var spec = Spec(text, snap: true);
        if (spec.Snap is null)
            throw new RbdException("EINVAL", $"'{text}' names no snapshot (IMAGE@SNAP)");
        await using var image = await Image.OpenAsync(client, spec.WithoutSnap(), token);
        await action(image, spec.Snap);
    }

    private static void AddBench(Command rbd)
    {
        var ioType = new Option<string>("--io-type") { Description = "write or read", Required = true };
        ioType.AcceptOnlyFromAmong("write", "read");
        var ioSize = new Option<string>("--io-size") { Description = "Bytes per I/O (default 4K)", DefaultValueFactory = _ => "4K" };
        var threads = new Option<int>("--io-threads") { Description = "I/Os in flight (default 16)", DefaultValueFactory = _ => 16 };
        var pattern = new Option<string>("--io-pattern") { Description = "rand or seq (default seq)", DefaultValueFactory = _ => "seq" };
        pattern.AcceptOnlyFromAmong("rand", "seq");
        var total = new Option<string>("--io-total") { Description = "Bytes to move (default 1G)", DefaultValueFactory = _ => "1G" };
        var seconds = new Option<int>("--seconds") { Description = "Stop after this many seconds (default 30)", DefaultValueFactory = _ => 30 };
        var bench = new Command("bench", "Write or read IMAGE with I/Os in flight; IOPS, MB/s and latency percentiles.") { ioType, ioSize, threads, pattern, total, seconds };
        Add(rbd, bench, ["IMAGE"], async (r, client, a, token) =>
        {
            await using var image = await Image.OpenAsync(client, Spec(a[0], snap: false), token);
            var result = await RbdBench.RunAsync(image, r.GetValue(ioType) == "write", (int)Sizes.Parse(r.GetValue(ioSize)!, "--io-size", 1), r.GetValue(threads),
                r.GetValue(pattern) == "rand", Sizes.Parse(r.GetValue(total)!, "--io-total", 1), TimeSpan.FromSeconds(r.GetValue(seconds)), token);
            Console.WriteLine(result);
        });
    }

    private static void Add(Command parent, Command command, string[] arguments, Func<ParseResult, RadosClient, string[], CancellationToken, Task> body)
    {
        var common = new AdminCommands.Common();
        common.Add(command);
        var args = arguments.Select(a => new Argument<string>(a)).ToArray();
        foreach (var arg in args)
            command.Arguments.Add(arg);
        command.SetAction(common.RunRados(async (r, client, token) =>
        {
            await body(r, client, [.. args.Select(a => r.GetValue(a)!)], token);
            return 0;
        }));
        parent.Subcommands.Add(command);
    }

    private static ImageSpec Spec(string text, bool snap)
    {
        var spec = ImageSpec.Parse(text);
        if (!snap && spec.Snap is not null)
            throw new RbdException("EINVAL", $"'{text}': this command works on an image, not a snapshot");
        return spec;
    }

    private static int Order(string? objectSize)
    {
        if (objectSize is null) return ImageHeader.DefaultOrder;
        long bytes = Sizes.Parse(objectSize, "--object-size", 1);
        int order = System.Numerics.BitOperations.Log2((ulong)bytes);
        return 1L << order == bytes && order is >= ImageHeader.MinOrder and <= ImageHeader.MaxOrder ? order
            : throw new RbdException("EINVAL", $"--object-size {objectSize}: a power of two from 4K to 32M");
    }

    private static async Task<string> ParentTextAsync(RadosClient client, Image image, CancellationToken token)
    {
        if (image.Header.Parent is not { } p || client.Map.FindPool(p.PoolId) is not { } pool) return "";
        var parentPool = new RbdPool(client, pool.Name);
        string name = await parentPool.FindNameAsync(p.ImageId, token) ?? p.ImageId;
        var header = await parentPool.ReadHeaderAsync(p.ImageId, token);
        return $"{pool.Name}/{name}@{header.Snaps.FirstOrDefault(s => s.Id == p.SnapId)?.Name ?? p.SnapId.ToString(CultureInfo.InvariantCulture)}";
    }

    private static Stream OpenOutput(string path) => path == "-" ? Console.OpenStandardOutput() : new FileStream(path, FileMode.Create, FileAccess.Write);

    /// <summary>Runs a long copy with a progress bar on stderr when stderr is a terminal (never on stdout, which may carry the data).</summary>
    private static async Task WithProgressAsync(string label, Func<IProgress<double>?, Task> work)
    {
        if (Console.IsErrorRedirected)
        {
            await work(null);
            return;
        }
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        await console.Progress().AutoClear(false).StartAsync(async context =>
        {
            var task = context.AddTask(label, maxValue: 1.0);
            await work(new Progress<double>(v => task.Value = Math.Max(task.Value, v)));
            task.Value = 1.0;
        });
    }
}

/// <summary>Sizes as operators type them: 10G, 512M, 4K, 4096B; a bare number is in <c>unit</c> (MiB for rbd --size, as Ceph does).</summary>
internal static class Sizes
{
    public static long Parse(string text, string option, long unit = 1 << 20)
    {
        string t = text.Trim();
        if (t.EndsWith("iB", StringComparison.OrdinalIgnoreCase)) t = t[..^2];
        else if (t.Length > 1 && char.IsLetter(t[^2]) && (t[^1] is 'B' or 'b')) t = t[..^1];
        long multiplier = t.Length == 0 ? 0 : char.ToUpperInvariant(t[^1]) switch
        {
            'B' => 1, 'K' => 1L << 10, 'M' => 1L << 20, 'G' => 1L << 30, 'T' => 1L << 40, 'P' => 1L << 50, _ => unit,
        };
        string digits = t.Length > 0 && char.IsLetter(t[^1]) ? t[..^1] : t;
        return long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out long n) && n <= long.MaxValue / multiplier
            ? n * multiplier
            : throw new RbdException("EINVAL", $"{option} '{text}' is not a size (e.g. 10G, 512M, 4K)");
    }

    public static string Format(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
        double value = bytes;
        int i = 0;
        while (value >= 1024 && i < units.Length - 1) { value /= 1024; i++; }
        return i == 0 ? $"{bytes} B" : string.Create(CultureInfo.InvariantCulture, $"{value:0.##} {units[i]}");
    }
}
