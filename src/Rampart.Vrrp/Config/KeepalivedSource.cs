using System.Text;
using System.Text.RegularExpressions;
using Rampart.Common.Config;

namespace Rampart.Vrrp.Config;

/// <summary>
/// Reads keepalived.conf and splices in "include PATTERN" files (keepalived: lib/parser.c, glob(3)).
/// A pattern is relative to the directory of the file that includes it; '*', '?' and '[..]' match within
/// one path component; matches are read in sorted order. A pattern matching nothing is a warning, as in
/// keepalived; an unreadable file, an include cycle or nesting deeper than <see cref="MaxIncludeDepth"/> is an error.
/// </summary>
internal sealed class KeepalivedSource
{
    public const int MaxIncludeDepth = 8;

    private readonly List<ConfigDiagnostic> _diagnostics;
    private readonly Stack<string> _open = new();

    private KeepalivedSource(List<ConfigDiagnostic> diagnostics) => _diagnostics = diagnostics;

    /// <summary>Tokens of <paramref name="text"/> with includes expanded.</summary>
    /// <param name="identity">Full path used for cycle detection and as the base of relative includes.</param>
    public static List<KeepalivedToken> Load(string text, string fileName, string identity, List<ConfigDiagnostic> diagnostics)
    {
        var source = new KeepalivedSource(diagnostics);
        var output = new List<KeepalivedToken>();
        source.Expand(text, fileName, identity, output);
        return output;
    }

    private void Expand(string text, string fileName, string identity, List<KeepalivedToken> output)
    {
        _open.Push(identity);
        var tokens = KeepalivedTokenizer.Tokenize(text, fileName, _diagnostics);
        var directory = Path.GetDirectoryName(identity) ?? Directory.GetCurrentDirectory();
        for (var i = 0; i < tokens.Count; i++)
        {
            var token = tokens[i];
            var firstOnLine = i == 0 || !tokens[i - 1].SameLine(token);
            if (!(token.IsWord && !token.Quoted && firstOnLine && token.Text == "include"))
            {
                output.Add(token);
                continue;
            }
            if (i + 1 >= tokens.Count || !tokens[i + 1].IsWord || !tokens[i + 1].SameLine(token))
            {
                Error(token, "include needs a file pattern; write 'include /etc/keepalived/conf.d/*.conf'");
                continue;
            }
            var pattern = tokens[++i].Text;
            while (i + 1 < tokens.Count && tokens[i + 1].SameLine(token))
            {
                i++; // keepalived ignores anything after the pattern
            }
            Include(token, pattern, directory, output);
        }
        _open.Pop();
    }

    private void Include(KeepalivedToken at, string pattern, string directory, List<KeepalivedToken> output)
    {
        var matches = Glob(pattern, directory);
        if (matches.Count == 0)
        {
            _diagnostics.Add(new(Severity.Warning, at.File, at.Line, "include", $"no file matches '{pattern}'; ignored"));
            return;
        }
        foreach (var path in matches)
        {
            var full = Path.GetFullPath(path);
            if (_open.Contains(full))
            {
                var chain = string.Join(" -> ", _open.Reverse().Append(full));
                Error(at, $"include cycle {chain}; remove one of these includes");
                continue;
            }
            if (_open.Count > MaxIncludeDepth)
            {
                Error(at, $"'{path}' is nested deeper than {MaxIncludeDepth} includes; flatten the includes");
                continue;
            }
            string text;
            try
            {
                text = File.ReadAllText(path, Encoding.UTF8);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Error(at, $"cannot read '{path}': {e.Message}");
                continue;
            }
            Expand(text, path, full, output);
        }
    }

    private void Error(KeepalivedToken at, string message) =>
        _diagnostics.Add(new(Severity.Error, at.File, at.Line, "include", message));

    /// <summary>glob(3) subset: '*', '?', '[abc]', '[a-z]', '[!a]'; hidden entries only when the component starts with '.'.</summary>
    internal static List<string> Glob(string pattern, string baseDirectory)
    {
        var rooted = Path.IsPathRooted(pattern);
        var candidates = new List<string> { rooted ? Path.GetPathRoot(pattern)! : baseDirectory };
        var rest = rooted ? pattern[Path.GetPathRoot(pattern)!.Length..] : pattern;
        foreach (var part in rest.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            var next = new List<string>();
            if (part.IndexOfAny(['*', '?', '[']) < 0)
            {
                next.AddRange(candidates.Select(c => Path.Combine(c, part)));
            }
            else
            {
                var regex = GlobRegex(part);
                foreach (var dir in candidates.Where(Directory.Exists))
                {
                    IEnumerable<string> entries;
                    try
                    {
                        entries = Directory.EnumerateFileSystemEntries(dir).ToList();
                    }
                    catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                    {
                        continue;
                    }
                    next.AddRange(entries
                        .Where(e => Path.GetFileName(e) is var name
                            && (!name.StartsWith('.') || part.StartsWith('.'))
                            && regex.IsMatch(name))
                        .Order(StringComparer.Ordinal));
                }
            }
            candidates = next;
        }
        // Directories are kept, as glob(3) does: reading one then fails with an error naming it.
        return candidates.Where(Path.Exists).ToList();
    }

    private static Regex GlobRegex(string part)
    {
        var sb = new StringBuilder("^");
        for (var i = 0; i < part.Length; i++)
        {
            var c = part[i];
            var close = c == '[' ? part.IndexOf(']', i + 2) : -1;
            if (c == '*')
            {
                sb.Append(".*");
            }
            else if (c == '?')
            {
                sb.Append('.');
            }
            else if (close > 0)
            {
                var set = part[(i + 1)..close];
                var negate = set[0] is '!' or '^';
                if (negate && set.Length == 1)
                {
                    sb.Append(Regex.Escape(c.ToString()));
                    continue;
                }
                if (negate)
                {
                    set = set[1..];
                }
                sb.Append(negate ? "[^" : "[");
                foreach (var s in set)
                {
                    sb.Append(s is '\\' or ']' or '[' or '^' ? "\\" + s : s.ToString());
                }
                sb.Append(']');
                i = close;
            }
            else
            {
                sb.Append(Regex.Escape(c.ToString()));
            }
        }
        return new Regex(sb.Append('$').ToString(), RegexOptions.CultureInvariant);
    }
}
