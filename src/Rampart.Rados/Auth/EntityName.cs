namespace Rampart.Rados.Auth;

/// <summary>
/// Who is talking, named as Ceph names it: <c>type.id</c> — <c>client.admin</c>, <c>client.glance</c>,
/// <c>osd.0</c>, <c>mon.a</c>, <c>mgr.x</c>. The id may contain dots (<c>client.rgw.host1</c>);
/// only <c>mon.</c> (the monitors' shared key) has an empty id.
/// </summary>
public readonly record struct EntityName
{
    public const int MaxLength = 256;

    /// <summary>The entity types Rampart knows.</summary>
    public static IReadOnlyList<string> Types { get; } = ["client", "osd", "mon", "mgr"];

    public string Type { get; }
    public string Id { get; }

    private EntityName(string type, string id) => (Type, Id) = (type, id);

    public static EntityName Client(string id) => Parse("client." + id);

    public static EntityName Parse(string text) =>
        TryParse(text, out var name, out var error) ? name : throw new FormatException(error);

    public static bool TryParse(string? text, out EntityName name, out string? error)
    {
        name = default;
        if (string.IsNullOrEmpty(text))
            return Fail(out error, "entity name is empty");
        if (text.Length > MaxLength)
            return Fail(out error, $"entity name longer than {MaxLength} characters");
        int dot = text.IndexOf('.');
        if (dot < 0)
            return Fail(out error, $"entity name '{text}' is not type.id (e.g. client.admin)");
        string type = text[..dot], id = text[(dot + 1)..];
        if (!Types.Contains(type))
            return Fail(out error, $"entity name '{text}': unknown type '{type}' (expected {string.Join(", ", Types)})");
        if (id.Length == 0 && type != "mon")
            return Fail(out error, $"entity name '{text}': empty id (only 'mon.' may have one)");
        foreach (char c in id)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_'))
                return Fail(out error, $"entity name '{text}': character '{c}' not allowed in an id (letters, digits, '.', '-', '_')");
        }
        name = new EntityName(type, id);
        error = null;
        return true;
    }

    public bool IsDefault => Type is null;

    public override string ToString() => IsDefault ? "" : $"{Type}.{Id}";

    private static bool Fail(out string? error, string message)
    {
        error = message;
        return false;
    }
}
