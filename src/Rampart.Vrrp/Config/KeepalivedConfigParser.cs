using System.Globalization;
using Rampart.Common.Config;

namespace Rampart.Vrrp.Config;

/// <summary>
/// Parses keepalived.conf (the VRRP half: global_defs, vrrp_script, vrrp_instance, vrrp_sync_group) with
/// keepalived's keyword spellings. Every problem is collected; <see cref="ConfigParseResult.Config"/> is null
/// when any of them is an error.
/// </summary>
public static class KeepalivedConfigParser
{
    /// <summary>Reads and parses <paramref name="path"/>; includes are relative to its directory.</summary>
    public static ConfigParseResult ParseFile(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string text;
        try
        {
            text = File.ReadAllText(path, System.Text.Encoding.UTF8);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return new(null, [new(Severity.Error, path, 0, "file", $"cannot read '{path}': {e.Message}")]);
        }
        var full = Path.GetFullPath(path);
        return Parse(text, path, full);
    }

    /// <summary>Parses <paramref name="text"/> as if read from <paramref name="fileName"/>.</summary>
    /// <param name="baseDirectory">Directory for relative includes; default the current directory.</param>
    public static ConfigParseResult ParseText(string text, string fileName = "keepalived.conf", string? baseDirectory = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(fileName);
        var identity = Path.GetFullPath(Path.Combine(baseDirectory ?? Directory.GetCurrentDirectory(), Path.GetFileName(fileName)));
        return Parse(text, fileName, identity);
    }

    private static ConfigParseResult Parse(string text, string fileName, string identity)
    {
        var diagnostics = new List<ConfigDiagnostic>();
        var tokens = KeepalivedSource.Load(text, fileName, identity, diagnostics);
        var config = new KeepalivedParser(tokens, diagnostics, fileName).Parse();
        var hasErrors = diagnostics.Any(d => d.Severity == Severity.Error);
        return new(hasErrors ? null : config, diagnostics);
    }
}

/// <summary>A keyword with the words on its line and, when one follows, the '{' of its block.</summary>
internal sealed class Statement(KeepalivedToken keyword, List<KeepalivedToken> args, KeepalivedToken? open)
{
    public KeepalivedToken Keyword { get; } = keyword;
    public List<KeepalivedToken> Args { get; } = args;
    public KeepalivedToken? Open { get; } = open;
    /// <summary>Set once the block has been read, so the caller does not skip it again.</summary>
    public bool BlockRead { get; set; }
    public string Name => Keyword.Text;
    public SourceLocation Location => Keyword.Location;
    /// <summary>All the words after the keyword, as one command line (notify scripts, script).</summary>
    public string Rest => string.Join(' ', Args.Select(a => a.Text));
}

/// <summary>Recursive descent over the token stream: the reading machinery; sections live in the partial files.</summary>
internal sealed partial class KeepalivedParser(List<KeepalivedToken> tokens, List<ConfigDiagnostic> diagnostics, string mainFile)
{
    private const NumberStyles DecimalStyle = NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint;
    private int _pos;

    public KeepalivedConfig Parse()
    {
        while (_pos < tokens.Count)
        {
            var token = tokens[_pos];
            if (token.Kind == TokenKind.Close)
            {
                Error(token, "}", "unexpected '}' with no open block; remove it or add the missing '{'");
                _pos++;
                continue;
            }
            if (token.Kind == TokenKind.Open)
            {
                Error(token, "{", "'{' without a section keyword before it; write e.g. 'vrrp_instance VI_1 {'");
                _pos++;
                SkipBlock();
                continue;
            }
            var statement = ReadStatement();
            TopLevel(statement);
            if (statement.Open is not null && !statement.BlockRead)
            {
                SkipBlock(statement);
            }
        }
        return Build();
    }

    private Statement ReadStatement()
    {
        var keyword = tokens[_pos++];
        var args = new List<KeepalivedToken>();
        while (_pos < tokens.Count && tokens[_pos].IsWord && tokens[_pos].SameLine(keyword))
        {
            args.Add(tokens[_pos++]);
        }
        KeepalivedToken? open = null;
        if (_pos < tokens.Count && tokens[_pos].Kind == TokenKind.Open)
        {
            open = tokens[_pos++];
        }
        return new Statement(keyword, args, open);
    }

    /// <summary>Reads the statements of <paramref name="owner"/>'s block up to its '}'.</summary>
    private void ReadBlock(Statement owner, string entity, Action<Statement> handle)
    {
        owner.BlockRead = true;
        while (true)
        {
            if (_pos >= tokens.Count)
            {
                var open = owner.Open!.Value;
                Error(open, owner.Name, $"{entity}: '{{' is never closed before the end of the file; add '}}'");
                return;
            }
            var token = tokens[_pos];
            if (token.Kind == TokenKind.Close)
            {
                _pos++;
                return;
            }
            if (token.Kind == TokenKind.Open)
            {
                Error(token, "{", $"{entity}: '{{' without a keyword before it; remove it");
                _pos++;
                SkipBlock();
                continue;
            }
            var statement = ReadStatement();
            handle(statement);
            if (statement.Open is not null && !statement.BlockRead)
            {
                SkipBlock(statement);
            }
        }
    }

    /// <summary>Reads a block the keyword requires; an error when the '{' is missing.</summary>
    private void RequireBlock(Statement statement, string entity, Action<Statement> handle)
    {
        if (statement.Open is null)
        {
            Error(statement, $"{entity}: {statement.Name} needs a block; write '{statement.Name} {{ ... }}'");
            return;
        }
        ReadBlock(statement, entity, handle);
    }

    private void SkipBlock(Statement statement)
    {
        statement.BlockRead = true;
        if (!SkipBlock())
        {
            Error(statement.Open!.Value, statement.Name, $"{statement.Name}: '{{' is never closed before the end of the file; add '}}'");
        }
    }

    /// <summary>Skips to the '}' matching a '{' just read; false at end of file.</summary>
    private bool SkipBlock()
    {
        var depth = 1;
        while (_pos < tokens.Count)
        {
            var kind = tokens[_pos++].Kind;
            if (kind == TokenKind.Open)
            {
                depth++;
            }
            else if (kind == TokenKind.Close && --depth == 0)
            {
                return true;
            }
        }
        return false;
    }

    // ---- diagnostics ----

    private void Error(KeepalivedToken at, string keyword, string message) =>
        diagnostics.Add(new(Severity.Error, at.File, at.Line, keyword, message));

    private void Error(Statement at, string message) => Error(at.Keyword, at.Name, message);

    private void Error(SourceLocation at, string keyword, string message) =>
        diagnostics.Add(new(Severity.Error, at.File, at.Line, keyword, message));

    private void Warning(Statement at, string message) =>
        diagnostics.Add(new(Severity.Warning, at.Keyword.File, at.Keyword.Line, at.Name, message));

    private void Warning(SourceLocation at, string keyword, string message) =>
        diagnostics.Add(new(Severity.Warning, at.File, at.Line, keyword, message));

    private void Unknown(Statement at, string entity) => Warning(at, $"{entity}: unknown keyword '{at.Name}'; ignored");

    private void Unsupported(Statement at, string entity) => Warning(at, $"{entity}: {at.Name} is not supported; ignored");

    // ---- values ----

    /// <summary>The first word after the keyword; an error naming the usage when there is none.</summary>
    private bool TryValue(Statement s, string entity, string usage, out string value)
    {
        if (s.Args.Count == 0)
        {
            Error(s, $"{entity}: {s.Name} needs a value; write '{s.Name} {usage}'");
            value = "";
            return false;
        }
        value = s.Args[0].Text;
        return true;
    }

    /// <summary>The whole rest of the line (a command): quoted or not.</summary>
    private bool TryCommand(Statement s, string entity, out string command)
    {
        command = s.Rest;
        if (s.Args.Count == 0 || command.Length == 0)
        {
            Error(s, $"{entity}: {s.Name} needs a value; write '{s.Name} \"/path/to/script args\"'");
            return false;
        }
        return true;
    }

    private bool TryInt(Statement s, string entity, int min, int max, out int value) =>
        TryInt(s, 0, entity, min, max, out value);

    private bool TryInt(Statement s, int argIndex, string entity, int min, int max, out int value)
    {
        value = 0;
        if (argIndex == 0 && !TryValue(s, entity, $"{min}-{max}", out _))
        {
            return false;
        }
        var text = s.Args[argIndex].Text;
        if (!int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value))
        {
            Error(s, $"{entity}: {s.Name} '{text}' is not a whole number; use {min}-{max}");
            return false;
        }
        if (value < min || value > max)
        {
            Error(s, $"{entity}: {s.Name} {value} outside {min}-{max}");
            return false;
        }
        return true;
    }

    /// <summary>Seconds with an optional fraction ("1", "0.1"), within [min, max].</summary>
    private bool TrySeconds(Statement s, string entity, decimal min, decimal max, out TimeSpan value)
    {
        value = TimeSpan.Zero;
        if (!TryValue(s, entity, "SECONDS", out var text))
        {
            return false;
        }
        if (!decimal.TryParse(text, DecimalStyle, CultureInfo.InvariantCulture, out var seconds))
        {
            Error(s, $"{entity}: {s.Name} '{text}' is not a number of seconds; use e.g. 1 or 0.5");
            return false;
        }
        if (seconds < min || seconds > max)
        {
            Error(s, $"{entity}: {s.Name} {text} outside {Format(min)}-{Format(max)} seconds");
            return false;
        }
        value = ToTimeSpan(seconds);
        return true;
    }

    private static TimeSpan ToTimeSpan(decimal seconds) => TimeSpan.FromTicks((long)(seconds * TimeSpan.TicksPerSecond));

    private static string Format(decimal d) => d.ToString(CultureInfo.InvariantCulture);

    private static string Quote(string name) => name.Length == 0 ? "''" : name;
}
