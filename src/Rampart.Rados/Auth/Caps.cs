using System.Collections.Frozen;

namespace Rampart.Rados.Auth;

/// <summary>What an operation needs: read, write, or execute (object classes on OSDs, commands on monitors).</summary>
[Flags]
public enum CapOp
{
    None = 0,
    Read = 1,
    Write = 2,
    Execute = 4,
}

/// <summary>
/// One grant of a cap string: <c>allow rwx pool=volumes</c>. <see cref="All"/> is <c>allow *</c>
/// (everything, including admin operations). <see cref="Pool"/> null means every pool.
/// <see cref="Profile"/> names the profile it came from, if any.
/// </summary>
public sealed record CapGrant(CapOp Ops, bool All, string? Pool, string? Profile)
{
    public bool Allows(CapOp op, string? pool) =>
        (Pool is null || (pool is not null && string.Equals(Pool, pool, StringComparison.Ordinal)))
        && (All || (op != CapOp.None && (Ops & op) == op));
}

/// <summary>The parsed caps of one entity for one service (<c>mon</c>, <c>osd</c>, <c>mgr</c>): a grant list.</summary>
public sealed record ServiceCaps(string Service, string Text, IReadOnlyList<CapGrant> Grants)
{
    /// <summary>True when some grant covers every bit of <paramref name="op"/> on <paramref name="pool"/>.</summary>
    public bool Allows(CapOp op, string? pool = null)
    {
        foreach (var grant in Grants)
        {
            if (grant.Allows(op, pool))
                return true;
        }
        return false;
    }
}

/// <summary>
/// Ceph-style capabilities of one entity, per service. Grammar (a small subset of Ceph's):
/// <code>
/// caps    := grant ( ',' grant )*
/// grant   := 'allow' perms [ 'pool=' NAME ]
///          | 'profile' PROFILE [ 'pool=' NAME ]
/// perms   := '*' | letters from r, w, x (each at most once)
/// </code>
/// <c>pool=</c> applies to osd caps only. Profiles (what Ceph's do, minus what Rampart has no use for):
/// <list type="table">
/// <item><term>profile rbd</term><description>mon, mgr: r (read the maps). osd: rwx, on the given pool or all pools.</description></item>
/// <item><term>profile rbd-read-only</term><description>osd only: rx, on the given pool or all pools.</description></item>
/// <item><term>profile osd</term><description>mon: rx (read maps, boot and failure reports). osd: * (replication, recovery). mgr: r.</description></item>
/// <item><term>profile mon</term><description>mon, osd, mgr: *.</description></item>
/// </list>
/// Ceph also blocklists through mon 'profile rbd'; that is not modelled.
/// </summary>
public sealed class Caps
{
    public static IReadOnlyList<string> Services { get; } = ["mon", "osd", "mgr"];
    public const int MaxTextLength = 4096;

    public static Caps None { get; } = new(FrozenDictionary<string, ServiceCaps>.Empty);

    private readonly FrozenDictionary<string, ServiceCaps> _byService;

    private Caps(FrozenDictionary<string, ServiceCaps> byService) => _byService = byService;

    /// <summary>Caps of every service that has some, in <see cref="Services"/> order.</summary>
    public IEnumerable<ServiceCaps> All => Services.Where(_byService.ContainsKey).Select(s => _byService[s]);

    public ServiceCaps? this[string service] => _byService.GetValueOrDefault(service);

    /// <summary>A copy with <paramref name="caps"/> replacing this service's caps.</summary>
    public Caps With(ServiceCaps caps)
    {
        var copy = new Dictionary<string, ServiceCaps>(_byService) { [caps.Service] = caps };
        return new Caps(copy.ToFrozenDictionary(StringComparer.Ordinal));
    }

    /// <summary>A copy with the caps of <paramref name="service"/> parsed from <paramref name="text"/>.</summary>
    public Caps With(string service, string text) => With(Parse(service, text));

    /// <summary>True when the entity may do <paramref name="op"/> on <paramref name="service"/> (and pool, for osd).</summary>
    public bool Allows(string service, CapOp op, string? pool = null) =>
        _byService.TryGetValue(service, out var caps) && caps.Allows(op, pool);

    public static ServiceCaps Parse(string service, string text) =>
        TryParse(service, text, out var caps, out var error) ? caps : throw new FormatException(error);

    /// <summary>Parses one service's cap string. Errors read like "osd caps 'allow rwz pool=x': unknown permission 'z'".</summary>
    public static bool TryParse(string service, string text, out ServiceCaps caps, out string? error)
    {
        caps = null!;
        if (!Services.Contains(service))
        {
            error = $"unknown service '{service}' (expected {string.Join(", ", Services)})";
            return false;
        }
        string? reason = text.Length > MaxTextLength ? $"longer than {MaxTextLength} characters" : null;
        var grants = new List<CapGrant>();
        if (reason is null)
        {
            foreach (string part in text.Split(','))
            {
                reason = ParseGrant(service, part.Trim(), grants);
                if (reason is not null)
                    break;
            }
        }
        if (reason is not null)
        {
            error = $"{service} caps '{text}': {reason}";
            return false;
        }
        caps = new ServiceCaps(service, text, grants);
        error = null;
        return true;
    }

    private static string? ParseGrant(string service, string grant, List<CapGrant> into)
    {
        if (grant.Length == 0)
            return "empty grant";
        string[] words = grant.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
        if (words.Length is < 2 or > 3)
            return $"'{grant}' is not 'allow PERMS [pool=NAME]' or 'profile NAME [pool=NAME]'";
        string? pool = null;
        if (words.Length == 3)
        {
            if (!words[2].StartsWith("pool=", StringComparison.Ordinal))
                return $"unexpected '{words[2]}' (expected pool=NAME)";
            pool = words[2]["pool=".Length..].Trim('"');
            if (pool.Length == 0)
                return "empty pool name";
            if (service != "osd")
                return $"pool restriction '{words[2]}' only applies to osd caps";
        }
        switch (words[0])
        {
            case "allow":
                return ParsePerms(words[1], out var ops, out bool all) ?? Add(into, new CapGrant(ops, all, pool, null));
            case "profile":
                return ParseProfile(service, words[1], pool, into);
            default:
                return $"unknown keyword '{words[0]}' (expected allow or profile)";
        }
    }

    private static string? Add(List<CapGrant> into, CapGrant grant)
    {
        into.Add(grant);
        return null;
    }

    private static string? ParsePerms(string word, out CapOp ops, out bool all)
    {
        ops = CapOp.None;
        all = word == "*";
        if (all)
            return null;
        foreach (char c in word)
        {
            CapOp op = c switch { 'r' => CapOp.Read, 'w' => CapOp.Write, 'x' => CapOp.Execute, _ => CapOp.None };
            if (op == CapOp.None)
                return $"unknown permission '{c}'";
            if ((ops & op) != 0)
                return $"permission '{c}' repeated";
            ops |= op;
        }
        return null;
    }

    private static string? ParseProfile(string service, string profile, string? pool, List<CapGrant> into)
    {
        const CapOp R = CapOp.Read, RX = CapOp.Read | CapOp.Execute, RWX = CapOp.Read | CapOp.Write | CapOp.Execute;
        CapGrant? grant = (profile, service) switch
        {
            ("rbd", "osd") => new(RWX, false, pool, profile),
            ("rbd", "mon" or "mgr") => new(R, false, null, profile),
            ("rbd-read-only", "osd") => new(RX, false, pool, profile),
            ("osd", "mon") => new(RX, false, null, profile),
            ("osd", "osd") => new(CapOp.None, true, null, profile),
            ("osd", "mgr") => new(R, false, null, profile),
            ("mon", _) => new(CapOp.None, true, null, profile),
            _ => null,
        };
        if (grant is null)
        {
            bool known = profile is "rbd" or "rbd-read-only" or "osd" or "mon";
            return known ? $"profile '{profile}' does not apply to {service} caps" : $"unknown profile '{profile}'";
        }
        if (pool is not null && profile is not ("rbd" or "rbd-read-only"))
            return $"profile '{profile}' takes no pool";
        into.Add(grant);
        return null;
    }
}
