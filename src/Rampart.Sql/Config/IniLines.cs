namespace Rampart.Sql.Config;

/// <summary>
/// Line numbers for diagnostics. Microsoft.Extensions.Configuration.Ini keeps values, not positions, so the
/// file is scanned again to find where a section or key was written.
/// </summary>
internal sealed class IniLines
{
    private readonly string[] _lines;

    public IniLines(string path) => _lines = File.Exists(path) ? File.ReadAllLines(path) : [];

    /// <summary>1-based line of "[section]", 0 when absent.</summary>
    public int SectionLine(string section)
    {
        for (int i = 0; i < _lines.Length; i++)
            if (IsSection(_lines[i], out var name) && string.Equals(name, section, StringComparison.OrdinalIgnoreCase)) return i + 1;
        return 0;
    }

    /// <summary>1-based line of "key = …" inside [section] (either spelling), else the section's line.</summary>
    public int KeyLine(string section, string key)
    {
        int start = SectionLine(section);
        if (start == 0) return 0;
        string spaced = key.Replace('_', ' ');
        for (int i = start; i < _lines.Length && !IsSection(_lines[i], out _); i++)
        {
            int eq = _lines[i].IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0) continue;
            var name = _lines[i][..eq].Trim();
            if (string.Equals(name, key, StringComparison.OrdinalIgnoreCase) || string.Equals(name, spaced, StringComparison.OrdinalIgnoreCase)) return i + 1;
        }
        return start;
    }

    /// <summary>The line whose text the INI reader quoted in its error message.</summary>
    public static int LineOfText(string path, string message)
    {
        var lines = File.ReadAllLines(path);
        for (int i = 0; i < lines.Length; i++)
            if (lines[i].Trim().Length > 0 && message.Contains($"'{lines[i].Trim()}'", StringComparison.Ordinal)) return i + 1;
        return 0;
    }

    private static bool IsSection(string line, out string name)
    {
        var t = line.Trim();
        name = t.Length > 2 && t[0] == '[' && t[^1] == ']' ? t[1..^1].Trim() : "";
        return name.Length > 0;
    }
}
