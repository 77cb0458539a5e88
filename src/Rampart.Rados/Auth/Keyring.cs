using System.Security.Cryptography;
using System.Text;
using Rampart.Common.Config;

namespace Rampart.Rados.Auth;

/// <summary>One entity of a keyring: its name, secret and caps.</summary>
public sealed record KeyringEntry(EntityName Name, byte[] Key, Caps Caps)
{
    public string KeyBase64 => Convert.ToBase64String(Key);
}

/// <summary>
/// A set of entities with their secrets and caps, in Ceph's keyring file format:
/// <code>
/// [client.admin]
///     key = AQBx...==
///     caps mon = "allow *"
///     caps osd = "allow rwx pool=volumes, allow rx pool=images"
/// </code>
/// Lines starting with '#' or ';' are comments. Unlike Ceph's keys (a binary header plus 16 bytes),
/// Rampart's key is plain random bytes (32 from <see cref="GenerateKey"/>); any base64 of 16–64 bytes is accepted.
/// Immutable: <see cref="With"/> and <see cref="Without"/> return copies.
/// </summary>
public sealed class Keyring
{
    public const int MinKeyBytes = 16;
    public const int MaxKeyBytes = 64;
    public const int KeyBytes = 32;

    private readonly Dictionary<string, KeyringEntry> _entries;

    public static Keyring Empty { get; } = new([]);

    private Keyring(Dictionary<string, KeyringEntry> entries) => _entries = entries;

    public IEnumerable<KeyringEntry> Entries => _entries.Values.OrderBy(e => e.Name.ToString(), StringComparer.Ordinal);

    public int Count => _entries.Count;

    public KeyringEntry? Find(EntityName name) => _entries.GetValueOrDefault(name.ToString());

    public bool TryGet(EntityName name, out KeyringEntry entry) => _entries.TryGetValue(name.ToString(), out entry!);

    public Keyring With(KeyringEntry entry)
    {
        if (entry.Key.Length is < MinKeyBytes or > MaxKeyBytes)
            throw new ArgumentException($"{entry.Name}: key of {entry.Key.Length} bytes (expected {MinKeyBytes}-{MaxKeyBytes})", nameof(entry));
        return new Keyring(new(_entries) { [entry.Name.ToString()] = entry });
    }

    public Keyring Without(EntityName name)
    {
        var copy = new Dictionary<string, KeyringEntry>(_entries);
        copy.Remove(name.ToString());
        return new Keyring(copy);
    }

    /// <summary>A fresh secret: 32 random bytes, base64 (what goes after <c>key = </c>).</summary>
    public static string GenerateKey() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(KeyBytes));

    public static Keyring Load(string path) => Parse(File.ReadAllText(path), path);

    public void Save(string path)
    {
        // Secrets: write to a 0600 temp file, then rename over the target.
        string temp = path + ".tmp";
        var options = new FileStreamOptions
        {
            Mode = FileMode.Create,
            Access = FileAccess.Write,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        };
        using (var stream = new FileStream(temp, options))
        using (var writer = new StreamWriter(stream, new UTF8Encoding(false)))
        {
            writer.Write(Format());
        }
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>The file text, as Ceph writes it (tab-indented, caps quoted).</summary>
    public string Format()
    {
        var text = new StringBuilder();
        foreach (var entry in Entries)
        {
            text.Append('[').Append(entry.Name).Append("]\n");
            text.Append("\tkey = ").Append(entry.KeyBase64).Append('\n');
            foreach (var caps in entry.Caps.All)
                text.Append("\tcaps ").Append(caps.Service).Append(" = \"").Append(caps.Text).Append("\"\n");
        }
        return text.ToString();
    }

    /// <summary>Parses keyring text; every problem found is reported with <paramref name="file"/> and line.</summary>
    public static Keyring Parse(string text, string file = "keyring")
    {
        var diagnostics = new List<ConfigDiagnostic>();
        var entries = new Dictionary<string, KeyringEntry>();
        EntityName? current = null;
        int currentLine = 0;
        byte[]? key = null;
        var caps = Caps.None;

        void Error(int line, string keyword, string message) =>
            diagnostics.Add(new ConfigDiagnostic(Severity.Error, file, line, keyword, message));

        void Finish()
        {
            if (current is not { } name)
                return;
            if (key is null)
                Error(currentLine, "key", $"[{name}] has no key");
            else
                entries[name.ToString()] = new KeyringEntry(name, key, caps);
        }

        string[] lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            int lineNo = i + 1;
            string line = lines[i].Trim();
            if (line.Length == 0 || line[0] is '#' or ';')
                continue;
            if (line[0] == '[')
            {
                Finish();
                current = null;
                key = null;
                caps = Caps.None;
                currentLine = lineNo;
                if (line[^1] != ']')
                {
                    Error(lineNo, "section", $"'{line}' has no closing ']'");
                    continue;
                }
                string nameText = line[1..^1].Trim();
                if (!EntityName.TryParse(nameText, out var name, out string? nameError))
                    Error(lineNo, "section", nameError!);
                else if (entries.ContainsKey(name.ToString()))
                    Error(lineNo, "section", $"[{name}] appears twice");
                else
                    current = name;
                continue;
            }
            int eq = line.IndexOf('=');
            if (eq < 0)
            {
                Error(lineNo, line.Split(' ')[0], $"'{line}' is not 'name = value'");
                continue;
            }
            string keyword = string.Join(' ', line[..eq].Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries));
            string value = Unquote(line[(eq + 1)..].Trim());
            if (current is not { } entity)
            {
                if (currentLine == 0)
                    Error(lineNo, keyword, $"'{keyword}' outside any [entity] section");
                continue; // inside a section whose header was bad: already reported
            }
            if (keyword == "key")
            {
                if (key is not null)
                    Error(lineNo, "key", $"[{entity}] has a second key");
                else if (!TryDecodeKey(value, out key, out string? keyError))
                    Error(lineNo, "key", $"[{entity}] {keyError}");
            }
            else if (keyword.StartsWith("caps ", StringComparison.Ordinal))
            {
                string service = keyword["caps ".Length..];
                if (caps[service] is not null)
                    Error(lineNo, keyword, $"[{entity}] has a second '{keyword}'");
                else if (Caps.TryParse(service, value, out var parsed, out string? capsError))
                    caps = caps.With(parsed);
                else
                    Error(lineNo, keyword, $"[{entity}] {capsError}");
            }
            else if (keyword is "auid" or "created")
            {
                // Written by some Ceph versions; meaningless here.
            }
            else
            {
                Error(lineNo, keyword, $"[{entity}] unknown setting '{keyword}' (expected key or caps SERVICE)");
            }
        }
        Finish();
        if (diagnostics.Count > 0)
            throw new ConfigException(diagnostics);
        return new Keyring(entries);
    }

    private static bool TryDecodeKey(string value, out byte[]? key, out string? error)
    {
        key = null;
        error = null;
        var buffer = new byte[(value.Length * 3 / 4) + 3];
        if (value.Length == 0 || !Convert.TryFromBase64String(value, buffer, out int written))
        {
            error = "key is not base64";
            return false;
        }
        if (written is < MinKeyBytes or > MaxKeyBytes)
        {
            error = $"key of {written} bytes (expected {MinKeyBytes}-{MaxKeyBytes})";
            return false;
        }
        key = buffer[..written];
        return true;
    }

    private static string Unquote(string value) =>
        value.Length >= 2 && value[0] == '"' && value[^1] == '"' ? value[1..^1] : value;
}
