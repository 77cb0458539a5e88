using System.Collections.Immutable;
using System.Globalization;
using System.Text.Json.Serialization;
using Rampart.Rados.Auth;
using Rampart.Rados.Crush;
using Rampart.Rados.Maps;
using Rampart.Rados.Placement;

namespace Rampart.Rados.Mon;

/// <summary>
/// What the monitors replicate: the cluster map and the auth database. <see cref="Apply"/> is a pure,
/// deterministic state machine step for Raft: the same commands in the same order give the same
/// state (and byte-identical <see cref="Snapshot"/>s) on every monitor.
/// A command that changes the map bumps <see cref="ClusterMap.Epoch"/> by exactly one; one that
/// changes only auth bumps <see cref="AuthVersion"/> (secrets are not part of the map that clients
/// and OSDs receive); a refused or no-op command returns this very state.
/// </summary>
public sealed partial class MonitorState : IEquatable<MonitorState>
{
    public const byte SnapshotFormatVersion = 1;

    private MonitorState(ClusterMap map, Keyring auth, long authVersion, ImmutableDictionary<PgId, PgActivation> activations)
    {
        Map = map;
        Auth = auth;
        AuthVersion = authVersion;
        Activations = activations;
    }

    public ClusterMap Map { get; }

    public Keyring Auth { get; }

    public long AuthVersion { get; }

    public static MonitorState Create(ClusterMap map, Keyring? auth = null) => new(map, auth ?? Keyring.Empty, 0, ImmutableDictionary<PgId, PgActivation>.Empty);

    /// <summary>Applies one command. Never throws for a bad command: it is refused with an error result.</summary>
    public (MonitorState Next, MonResult Result) Apply(MonCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        long next = Map.Epoch + 1;
        Outcome outcome;
        try
        {
            outcome = command switch
            {
                OsdBoot c => OsdBootCmd(c, next),
                OsdMarkDown c => OsdMarkDownCmd(c, next),
                OsdMarkUp c => OsdMarkUpCmd(c, next),
                OsdOut c => OsdOutCmd(c),
                OsdIn c => OsdInCmd(c),
                OsdLost c => OsdLostCmd(c),
                OsdReweight c => OsdReweightCmd(c),
                AutoOut c => AutoOutCmd(c),
                PoolCreate c => PoolCreateCmd(c, next),
                PoolDelete c => PoolDeleteCmd(c),
                PoolSet c => PoolSetCmd(c, next),
                SetOption c => SetOptionCmd(c),
                CrushAddBucket c => CrushAddBucketCmd(c),
                CrushMove c => CrushMoveCmd(c),
                AuthAdd c => AuthAddCmd(c.Entity, c.Key, c.Caps, getOrCreate: false),
                AuthGetOrCreate c => AuthAddCmd(c.Entity, c.Key, c.Caps, getOrCreate: true),
                AuthCaps c => AuthCapsCmd(c),
                AuthRemove c => AuthRemoveCmd(c),
                SnapCreate c => SnapCreateCmd(c),
                SnapRemove c => SnapRemoveCmd(c),
                SnapPublish c => SnapPublishCmd(c),
                PgActivate c => PgActivateCmd(c),
                PgActivations c => PgActivationsCmd(c),
                _ => Refuse("EINVAL", $"unknown command {command.GetType().Name}"),
            };
        }
        catch (Exception e) when (e is ArgumentException or FormatException)
        {
            // An edit the CRUSH map or keyring rejected.
            string message = e is ArgumentException { ParamName: { } param }
                ? e.Message.Replace($" (Parameter '{param}')", "", StringComparison.Ordinal)
                : e.Message;
            outcome = Refuse("EINVAL", message);
        }

        if (!outcome.Result.Success || (outcome.Map is null && outcome.Auth is null && outcome.Activations is null))
            return (this, outcome.Result);
        var map = outcome.Map is null ? Map : outcome.Map with { Epoch = next };
        var state = new MonitorState(map, outcome.Auth ?? Auth, outcome.Auth is null ? AuthVersion : AuthVersion + 1, outcome.Activations ?? Activations);
        return (state, outcome.Result);
    }

    /// <summary>Applies commands in order; returns the final state and every result.</summary>
    public (MonitorState Final, IReadOnlyList<MonResult> Results) ApplyAll(IEnumerable<MonCommand> commands)
    {
        var state = this;
        var results = new List<MonResult>();
        foreach (var command in commands)
        {
            (state, var result) = state.Apply(command);
            results.Add(result);
        }
        return (state, results);
    }

    // ---- results -------------------------------------------------------------------------------

    private readonly record struct Outcome(MonResult Result, ClusterMap? Map = null, Keyring? Auth = null, ImmutableDictionary<PgId, PgActivation>? Activations = null);

    private static Outcome Refuse(string errno, string message) => new(MonResult.Error(errno, message));

    private static Outcome Unchanged(string message, string? output = null) => new(MonResult.Ok(message, output));

    private static Outcome Changed(ClusterMap map, string message, string? output = null) => new(MonResult.Ok(message, output), map);

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    // ---- OSDs ----------------------------------------------------------------------------------

    private Outcome OsdBootCmd(OsdBoot c, long next)
    {
        if (c.Id < 0)
            return Refuse("EINVAL", $"invalid osd id {c.Id}");
        if (string.IsNullOrWhiteSpace(c.Address))
            return Refuse("EINVAL", $"osd.{c.Id}: empty address");
        if (string.IsNullOrWhiteSpace(c.Host))
            return Refuse("EINVAL", $"osd.{c.Id}: empty host name");
        if (!double.IsFinite(c.Weight) || c.Weight < 0)
            return Refuse("EINVAL", Invariant($"osd.{c.Id}: weight {c.Weight} must be a finite number >= 0"));

        var crush = Map.Crush;
        string host = c.Host;
        double weight = c.Weight;
        if (!crush.ContainsDevice(c.Id))
        {
            if (crush.FindBucket(c.Host) is null)
            {
                if (crush.FindBucket(ClusterMap.DefaultRoot) is null)
                    crush = crush.AddBucket(ClusterMap.DefaultRoot, CrushBucketType.Root);
                crush = crush.AddHost(c.Host, ClusterMap.DefaultRoot);
            }
            crush = crush.AddOsd(c.Id, c.Weight, c.Host);
        }
        else
        {
            host = crush.NameOf(crush.ParentOf(c.Id)!.Value);
            weight = crush.WeightOf(c.Id);
        }

        var old = Map.FindOsd(c.Id);
        if (old is { Up: true } && old.Address == c.Address && ReferenceEquals(crush, Map.Crush))
            return Unchanged($"osd.{c.Id} is already up at {c.Address}");
        bool markIn = old is null || old.AutoOut;
        var osd = new OsdInfo(c.Id, c.Address, host, weight, Up: true,
            Reweight: markIn ? 1.0 : old!.Reweight, UpFrom: next, DownSince: null, AutoOut: false);
        return Changed(Map with { Crush = crush, Osds = Map.Osds.SetItem(c.Id, osd) },
            $"osd.{c.Id} boot at {c.Address} on host {host}");
    }

    private Outcome OsdMarkDownCmd(OsdMarkDown c, long next)
    {
        if (Map.FindOsd(c.Id) is not { } osd)
            return Refuse("ENOENT", $"osd.{c.Id} does not exist");
        if (!osd.Up)
            return Unchanged($"osd.{c.Id} is already down.");
        if (c.SeenUpFrom is { } seen && seen != osd.UpFrom)
            return Unchanged($"osd.{c.Id} has restarted since (up from epoch {osd.UpFrom}): report ignored.");
        string reason = string.IsNullOrEmpty(c.Reason) ? "" : $" ({c.Reason})";
        return Changed(WithOsd(osd with { Up = false, DownSince = c.At, DownAt = next }), $"marked down osd.{c.Id}.{reason}");
    }

    private Outcome OsdMarkUpCmd(OsdMarkUp c, long next)
    {
        if (Map.FindOsd(c.Id) is not { } osd)
            return Refuse("ENOENT", $"osd.{c.Id} does not exist");
        if (osd.Up)
            return Unchanged($"osd.{c.Id} is already up.");
        return Changed(WithOsd(osd with { Up = true, UpFrom = next, DownSince = null, DownAt = 0 }), $"marked up osd.{c.Id}.");
    }

    private Outcome OsdOutCmd(OsdOut c)
    {
        if (Map.FindOsd(c.Id) is not { } osd)
            return Refuse("ENOENT", $"osd.{c.Id} does not exist");
        if (!osd.In)
            return Unchanged($"osd.{c.Id} is already out.");
        return Changed(WithOsd(osd with { Reweight = 0, AutoOut = false }), $"marked out osd.{c.Id}.");
    }

    private Outcome OsdInCmd(OsdIn c)
    {
        if (Map.FindOsd(c.Id) is not { } osd)
            return Refuse("ENOENT", $"osd.{c.Id} does not exist");
        if (osd.In)
            return Unchanged($"osd.{c.Id} is already in.");
        return Changed(WithOsd(osd with { Reweight = 1, AutoOut = false }), $"marked in osd.{c.Id}.");
    }

    private Outcome OsdReweightCmd(OsdReweight c)
    {
        if (Map.FindOsd(c.Id) is not { } osd)
            return Refuse("ENOENT", $"osd.{c.Id} does not exist");
        if (!double.IsFinite(c.Weight) || c.Weight is < 0 or > 1)
            return Refuse("EINVAL", Invariant($"weight must be in the range [0..1], got {c.Weight}"));
        if (osd.Reweight == c.Weight)
            return Unchanged(Invariant($"osd.{c.Id} already has reweight {c.Weight}"));
        return Changed(WithOsd(osd with { Reweight = c.Weight, AutoOut = false }), Invariant($"reweighted osd.{c.Id} to {c.Weight}"));
    }

    private Outcome AutoOutCmd(AutoOut c)
    {
        var interval = Map.Options.MonOsdDownOutInterval;
        if (interval <= TimeSpan.Zero)
            return Unchanged("auto-out disabled (mon_osd_down_out_interval = 0)");
        var osds = Map.Osds;
        var marked = new List<string>();
        foreach (var osd in Map.Osds.Values)
        {
            if (!osd.Up && osd.In && osd.DownSince is { } since && c.Now - since >= interval)
            {
                osds = osds.SetItem(osd.Id, osd with { Reweight = 0, AutoOut = true });
                marked.Add($"osd.{osd.Id}");
            }
        }
        if (marked.Count == 0)
            return Unchanged("no osds to mark out");
        return Changed(Map with { Osds = osds }, $"marked out {string.Join(", ", marked)} (down for {interval.TotalSeconds:0}s or more)");
    }

    private ClusterMap WithOsd(OsdInfo osd) => Map with { Osds = Map.Osds.SetItem(osd.Id, osd) };

    // ---- pools ---------------------------------------------------------------------------------

    private Outcome PoolCreateCmd(PoolCreate c, long next)
    {
        if (string.IsNullOrWhiteSpace(c.Name))
            return Refuse("EINVAL", "pool name must not be empty");
        if (c.Name.Length > 256 || c.Name.Any(char.IsControl))
            return Refuse("EINVAL", $"invalid pool name '{c.Name}'");
        if (Map.FindPool(c.Name) is not null)
            return Unchanged($"pool '{c.Name}' already exists");
        if (c.Size is < 1 or > PoolInfo.MaxSize)
            return Refuse("EINVAL", $"pool size must be between 1 and {PoolInfo.MaxSize}");
        if (c.MinSize < 1 || c.MinSize > c.Size)
            return Refuse("EINVAL", $"pool min_size must be between 1 and size, which is set to {c.Size}");
        if (c.PgNum is 0)
            return Refuse("ERANGE", "pg_num 0 is invalid; it must be >= 1");
        string ruleName = c.Rule ?? CrushRule.DefaultReplicated.Name;
        if (Map.Crush.FindRule(ruleName) is not { } rule)
            return Refuse("ENOENT", $"specified rule {ruleName} doesn't exist");

        uint pgNum = c.PgNum ?? PgCount.Default(Map.Osds.Count, c.Size, Map.Pools.Count + 1);
        long id = Map.PoolMax + 1;
        var pool = new PoolInfo(id, c.Name, c.Size, c.MinSize, pgNum, rule.Id, SnapSeq: 0,
            ImmutableSortedSet<ulong>.Empty, c.Application, PoolFlags.HashPsPool, CreatedEpoch: next);
        return Changed(Map with { Pools = Map.Pools.Add(id, pool), PoolMax = id }, $"pool '{c.Name}' created");
    }

    private Outcome PoolDeleteCmd(PoolDelete c)
    {
        if (Map.FindPool(c.Name) is not { } pool)
            return Unchanged($"pool '{c.Name}' does not exist");
        if (c.ConfirmName != c.Name || !c.ReallyReallyMeanIt)
            return Refuse("EPERM", $"WARNING: this will *PERMANENTLY DESTROY* all data stored in pool {c.Name}.  "
                + "If you are *ABSOLUTELY CERTAIN* that is what you want, pass the pool name *twice*, "
                + "followed by --yes-i-really-really-mean-it.");
        if (!Map.Options.MonAllowPoolDelete)
            return Refuse("EPERM", "pool deletion is disabled; you must first set the mon_allow_pool_delete config option to true before you can destroy a pool");
        if (pool.Flags.HasFlag(PoolFlags.NoDelete))
            return Refuse("EPERM", "pool deletion is disabled; you must unset nodelete flag for the pool first");
        return new Outcome(MonResult.Ok($"pool '{c.Name}' removed"), Map with { Pools = Map.Pools.Remove(pool.Id) }, Activations: ActivationsAfter(pool, null));
    }

    private Outcome PoolSetCmd(PoolSet c, long next)
    {
        if (Map.FindPool(c.Name) is not { } pool)
            return Refuse("ENOENT", $"unrecognized pool '{c.Name}'");
        string value = c.Value ?? "";
        PoolInfo updated;
        switch (c.Key)
        {
            case "size":
            {
                if (!TryInt(value, out int n, out var error))
                    return error;
                if (n is < 1 or > PoolInfo.MaxSize)
                    return Refuse("EINVAL", $"pool size must be between 1 and {PoolInfo.MaxSize}");
                // Ceph resets min_size to the default for the new size: size - size/2.
                updated = pool with { Size = n, MinSize = n - (n / 2) };
                break;
            }
            case "min_size":
            {
                if (!TryInt(value, out int n, out var error))
                    return error;
                if (n < 1 || n > pool.Size)
                    return Refuse("EINVAL", $"pool min_size must be between 1 and size, which is set to {pool.Size}");
                updated = pool with { MinSize = n };
                break;
            }
            case "pg_num":
            {
                if (!TryInt(value, out int n, out var error))
                    return error;
                if (n < 1)
                    return Refuse("EINVAL", $"specified pg_num {n} must be > 0");
                if (n < pool.PgNum)
                    return Refuse("EOPNOTSUPP", $"pg_num of pool '{pool.Name}' cannot shrink ({pool.PgNum} -> {n}): PGs split but do not merge; create a new pool with the pg_num you want");
                if (n > MaxPoolPgNum)
                    return Refuse("ERANGE", $"pg_num {n} is larger than the limit of {MaxPoolPgNum} PGs per pool");
                // Growing splits every PG in place on its OSDs (in this epoch); the children then settle by CRUSH like any PG.
                updated = n == pool.PgNum ? pool : pool with { PgNum = (uint)n, SplitEpoch = next };
                break;
            }
            case "crush_rule":
            {
                var rule = Map.Crush.FindRule(value)
                    ?? (int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int ruleId) ? Map.Crush.FindRule(ruleId) : null);
                if (rule is null)
                    return Refuse("ENOENT", $"crush rule {value} does not exist");
                updated = pool with { CrushRule = rule.Id };
                break;
            }
            case "application":
                updated = pool with { Application = value.Length == 0 ? null : value };
                break;
            case "nodelete":
                if (!ClusterOptions.TryParseBool(value, out bool on))
                    return Refuse("EINVAL", $"expecting value 'true', 'false', '0', or '1'");
                updated = pool with { Flags = on ? pool.Flags | PoolFlags.NoDelete : pool.Flags & ~PoolFlags.NoDelete };
                break;
            default:
                return Refuse("EINVAL", $"unrecognized variable '{c.Key}'");
        }
        string message = $"set pool {pool.Id} {c.Key} to {value}";
        if (updated.Equals(pool))
            return Unchanged(message);
        return new Outcome(MonResult.Ok(message), Map with { Pools = Map.Pools.SetItem(pool.Id, updated) }, Activations: ActivationsAfter(pool, updated));
    }

    /// <summary>Ceph's mon_max_pool_pg_num.</summary>
    public const int MaxPoolPgNum = 65536;

    private static bool TryInt(string value, out int n, out Outcome error)
    {
        error = default;
        if (int.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out n))
            return true;
        error = Refuse("EINVAL", $"error parsing integer value '{value}'");
        return false;
    }

    private Outcome SetOptionCmd(SetOption c)
    {
        if (!ClusterOptions.TryValidate(c.Key, c.Value, out string? error))
            return Refuse("EINVAL", error!);
        if (Map.Options.Get(c.Key) == c.Value)
            return Unchanged($"{c.Key} is already {c.Value}");
        return Changed(Map with { Options = Map.Options.Set(c.Key, c.Value) }, $"set {c.Key} = {c.Value}");
    }

    // ---- CRUSH ---------------------------------------------------------------------------------

    private Outcome CrushAddBucketCmd(CrushAddBucket c)
    {
        if (!CrushBucketTypes.TryParse(c.Type, out var type) || type == CrushBucketType.Osd)
            return Refuse("EINVAL", $"type '{c.Type}' does not exist");
        if (Map.Crush.FindBucket(c.Name) is not null)
            return Unchanged($"bucket '{c.Name}' already exists");
        var crush = Map.Crush.AddBucket(c.Name, type);
        return Changed(Map with { Crush = crush }, $"added bucket {c.Name} type {c.Type} to crush map");
    }

    private Outcome CrushMoveCmd(CrushMove c)
    {
        string parentName = c.Parent.Contains('=', StringComparison.Ordinal) ? c.Parent[(c.Parent.IndexOf('=', StringComparison.Ordinal) + 1)..] : c.Parent;
        var crush = Map.Crush;
        int id;
        if (c.Name.StartsWith("osd.", StringComparison.Ordinal)
            && int.TryParse(c.Name.AsSpan(4), NumberStyles.None, CultureInfo.InvariantCulture, out int osd) && crush.ContainsDevice(osd))
            id = osd;
        else if (crush.FindBucket(c.Name) is { } bucket)
            id = bucket.Id;
        else
            return Refuse("ENOENT", $"item {c.Name} does not exist");
        if (crush.FindBucket(parentName) is not { } parent)
            return Refuse("ENOENT", $"bucket '{parentName}' does not exist");
        string location = $"{{{CrushBucketTypes.Name(parent.Type)}={parent.Name}}}";
        if (crush.ParentOf(id) == parent.Id)
            return Unchanged($"no need to move item id {id} name '{c.Name}' to location {location} in crush map");
        ClusterMap map;
        if (id >= 0)
        {
            map = Map with { Crush = crush.MoveOsd(id, parent.Name) };
            if (Map.FindOsd(id) is { } info)
                map = map with { Osds = map.Osds.SetItem(id, info with { Host = parent.Name }) };
        }
        else
        {
            map = Map with { Crush = crush.MoveBucket(c.Name, parent.Name) };
        }
        return Changed(map, $"moved item id {id} name '{c.Name}' to location {location} in crush map");
    }

    // ---- auth ----------------------------------------------------------------------------------

    private Outcome AuthAddCmd(string entity, string key, IReadOnlyDictionary<string, string> capTexts, bool getOrCreate)
    {
        if (!EntityName.TryParse(entity, out var name, out string? nameError))
            return Refuse("EINVAL", nameError!);
        if (!TryParseCaps(capTexts, out var caps, out string? capsError))
            return Refuse("EINVAL", capsError!);
        if (Auth.Find(name) is { } existing)
        {
            if (FirstCapMismatch(existing.Caps, caps) is { } service)
            {
                return getOrCreate
                    ? Refuse("EINVAL", $"key for {name} exists but cap {service} does not match")
                    : Refuse("EINVAL", $"entity {name} exists but cap {service} does not match");
            }
            return Unchanged(getOrCreate ? "" : $"entity {name} exists", existing.KeyBase64);
        }
        if (!TryDecodeKey(key, out byte[]? bytes, out string? keyError))
            return Refuse("EINVAL", $"{name}: {keyError}");
        var auth = Auth.With(new KeyringEntry(name, bytes!, caps));
        return new Outcome(MonResult.Ok(getOrCreate ? "" : $"added key for {name}", Convert.ToBase64String(bytes!)), Auth: auth);
    }

    private Outcome AuthCapsCmd(AuthCaps c)
    {
        if (!EntityName.TryParse(c.Entity, out var name, out string? nameError))
            return Refuse("EINVAL", nameError!);
        if (!TryParseCaps(c.Caps, out var caps, out string? capsError))
            return Refuse("EINVAL", capsError!);
        if (Auth.Find(name) is not { } existing)
            return Refuse("ENOENT", $"couldn't find entry {name}");
        if (FirstCapMismatch(existing.Caps, caps) is null)
            return Unchanged($"updated caps for {name}");
        return new Outcome(MonResult.Ok($"updated caps for {name}"), Auth: Auth.With(existing with { Caps = caps }));
    }

    private Outcome AuthRemoveCmd(AuthRemove c)
    {
        if (!EntityName.TryParse(c.Entity, out var name, out string? nameError))
            return Refuse("EINVAL", nameError!);
        if (Auth.Find(name) is null)
            return Unchanged($"entity {name} does not exist");
        return new Outcome(MonResult.Ok("updated"), Auth: Auth.Without(name));
    }

    private static bool TryParseCaps(IReadOnlyDictionary<string, string>? texts, out Caps caps, out string? error)
    {
        caps = Caps.None;
        error = null;
        foreach (var (service, text) in (texts ?? ImmutableDictionary<string, string>.Empty).OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            if (!Caps.TryParse(service, text, out var parsed, out error))
                return false;
            caps = caps.With(parsed);
        }
        return true;
    }

    /// <summary>The first service whose cap text differs (or is present in one only), or null.</summary>
    private static string? FirstCapMismatch(Caps a, Caps b)
    {
        foreach (string service in Caps.Services)
        {
            if (a[service]?.Text != b[service]?.Text)
                return service;
        }
        return null;
    }

    private static bool TryDecodeKey(string? text, out byte[]? key, out string? error)
    {
        key = null;
        error = null;
        var buffer = new byte[((text?.Length ?? 0) * 3 / 4) + 3];
        if (string.IsNullOrEmpty(text) || !Convert.TryFromBase64String(text, buffer, out int written))
        {
            error = "key is not base64";
            return false;
        }
        if (written is < Keyring.MinKeyBytes or > Keyring.MaxKeyBytes)
        {
            error = $"key of {written} bytes (expected {Keyring.MinKeyBytes}-{Keyring.MaxKeyBytes})";
            return false;
        }
        key = buffer[..written];
        return true;
    }

    // ---- snapshots -----------------------------------------------------------------------------

    private Outcome SnapCreateCmd(SnapCreate c)
    {
        if (Map.FindPool(c.Pool) is not { } pool)
            return Refuse("ENOENT", $"unrecognized pool '{c.Pool}'");
        ulong id = pool.SnapSeq + 1;
        var updated = pool with { SnapSeq = id, Flags = pool.Flags | PoolFlags.SelfManagedSnaps };
        string text = id.ToString(CultureInfo.InvariantCulture);
        return Changed(Map with { Pools = Map.Pools.SetItem(pool.Id, updated) }, $"created snap {text} in pool '{pool.Name}'", text);
    }

    private Outcome SnapRemoveCmd(SnapRemove c)
    {
        if (Map.FindPool(c.Pool) is not { } pool)
            return Refuse("ENOENT", $"unrecognized pool '{c.Pool}'");
        if (c.SnapId == 0 || c.SnapId > pool.SnapSeq)
            return Refuse("ENOENT", $"snap {c.SnapId} does not exist in pool '{pool.Name}'");
        if (pool.RemovedSnaps.Contains(c.SnapId))
            return Unchanged($"snap {c.SnapId} in pool '{pool.Name}' is already removed");
        var updated = pool with { RemovedSnaps = pool.RemovedSnaps.Add(c.SnapId) };
        return Changed(Map with { Pools = Map.Pools.SetItem(pool.Id, updated) }, $"removed snap {c.SnapId} from pool '{pool.Name}'");
    }

    private Outcome SnapPublishCmd(SnapPublish c)
    {
        if (Map.FindPool(c.Pool) is not { } pool)
            return Refuse("ENOENT", $"unrecognized pool '{c.Pool}'");
        var updated = pool with { SnapGeneration = pool.SnapGeneration + 1 };
        string text = updated.SnapGeneration.ToString(CultureInfo.InvariantCulture);
        return Changed(Map with { Pools = Map.Pools.SetItem(pool.Id, updated) }, $"snap generation {text} in pool '{pool.Name}'", text);
    }

    // ---- snapshot / restore --------------------------------------------------------------------

    /// <summary>The whole state as bytes (Raft snapshot): a version byte, then JSON. Canonical.</summary>
    public byte[] Snapshot() => Framing.Encode(SnapshotFormatVersion, new MonitorStateDto(
        ClusterMapCodec.ToDto(Map),
        AuthVersion,
        [.. Auth.Entries.Select(e => new AuthEntryDto(e.Name.ToString(), e.KeyBase64,
            [.. e.Caps.All.Select(s => new CapsDto(s.Service, s.Text))]))],
        [.. Activations.Values.OrderBy(a => a.Pool).ThenBy(a => a.Seed)]), MonJsonContext.Default.MonitorStateDto);

    /// <summary>Rebuilds a state from <see cref="Snapshot"/> bytes; <see cref="MapFormatException"/> on bad input.</summary>
    public static MonitorState Restore(ReadOnlySpan<byte> bytes)
    {
        const string what = "monitor snapshot";
        var dto = Framing.Decode(bytes, what, SnapshotFormatVersion, MonJsonContext.Default.MonitorStateDto);
        var map = ClusterMapCodec.FromDto(dto.Map, what);
        var auth = Keyring.Empty;
        try
        {
            foreach (var entry in dto.Auth)
            {
                var name = EntityName.Parse(entry.Entity);
                if (auth.Find(name) is not null)
                    throw new ArgumentException($"auth entity {name} appears twice");
                if (!TryDecodeKey(entry.Key, out byte[]? key, out string? keyError))
                    throw new ArgumentException($"{name}: {keyError}");
                var caps = Caps.None;
                foreach (var c in entry.Caps)
                    caps = caps.With(Caps.Parse(c.Service, c.Text));
                auth = auth.With(new KeyringEntry(name, key!, caps));
            }
        }
        catch (Exception e) when (e is ArgumentException or FormatException)
        {
            throw new MapFormatException($"{what}: invalid content: {e.Message}", e);
        }
        var activations = ImmutableDictionary.CreateBuilder<PgId, PgActivation>();
        foreach (var a in dto.Activations ?? [])
        {
            if (!activations.TryAdd(a.Pg, a))
                throw new MapFormatException($"{what}: invalid content: pg {a.Pg} activation appears twice");
        }
        return new MonitorState(map, auth, dto.AuthVersion, activations.ToImmutable());
    }

    /// <summary>Equal maps, auth versions and auth entries (names, keys, cap texts).</summary>
    public bool Equals(MonitorState? other)
    {
        if (other is null || AuthVersion != other.AuthVersion || !Map.Equals(other.Map) || Auth.Count != other.Auth.Count
            || Activations.Count != other.Activations.Count
            || Activations.Any(a => !other.Activations.TryGetValue(a.Key, out var b) || !a.Value.SameAs(b)))
            return false;
        foreach (var (a, b) in Auth.Entries.Zip(other.Auth.Entries))
        {
            if (a.Name != b.Name || !a.Key.AsSpan().SequenceEqual(b.Key) || FirstCapMismatch(a.Caps, b.Caps) is not null)
                return false;
        }
        return true;
    }

    public override bool Equals(object? obj) => Equals(obj as MonitorState);

    public override int GetHashCode() => HashCode.Combine(Map.Epoch, AuthVersion, Auth.Count);
}

internal sealed record MonitorStateDto(ClusterMapDto Map, long AuthVersion, AuthEntryDto[] Auth, PgActivation[]? Activations = null);

internal sealed record AuthEntryDto(string Entity, string Key, CapsDto[] Caps);

internal sealed record CapsDto(string Service, string Text);

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    RespectNullableAnnotations = true,
    RespectRequiredConstructorParameters = true)]
[JsonSerializable(typeof(MonitorStateDto))]
[JsonSerializable(typeof(MonCommand))]
[JsonSerializable(typeof(PgActivation[]))]
internal sealed partial class MonJsonContext : JsonSerializerContext;
