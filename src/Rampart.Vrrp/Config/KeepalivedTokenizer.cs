using Rampart.Common.Config;

namespace Rampart.Vrrp.Config;

/// <summary>
/// Splits keepalived.conf text into words, '{' and '}' (keepalived: lib/parser.c). Pure: no file access;
/// include directives are left in the stream for <see cref="KeepalivedSource"/> to expand.
/// </summary>
/// <remarks>
/// Rules: whitespace separates words; '{' and '}' are tokens of their own even when glued to a word
/// ("VI_1{"); '#' or '!' at the start of a word comments out the rest of the line; "double quotes"
/// make one word of their content (\" and \\ escape inside); a quote left open at end of line is an error.
/// </remarks>
internal static class KeepalivedTokenizer
{
    public static List<KeepalivedToken> Tokenize(string text, string file, List<ConfigDiagnostic> diagnostics)
    {
        var tokens = new List<KeepalivedToken>();
        var lineNo = 0;
        foreach (var rawLine in text.Split('\n'))
        {
            lineNo++;
            TokenizeLine(rawLine.TrimEnd('\r'), file, lineNo, tokens, diagnostics);
        }
        return tokens;
    }

    private static void TokenizeLine(string line, string file, int lineNo, List<KeepalivedToken> tokens, List<ConfigDiagnostic> diagnostics)
    {
        var i = 0;
        while (i < line.Length)
        {
            var c = line[i];
            if (char.IsWhiteSpace(c))
            {
                i++;
            }
            else if (c is '#' or '!')
            {
                return;
            }
            else if (c == '{')
            {
                tokens.Add(new(TokenKind.Open, "{", file, lineNo));
                i++;
            }
            else if (c == '}')
            {
                tokens.Add(new(TokenKind.Close, "}", file, lineNo));
                i++;
            }
            else if (c == '"')
            {
                var sb = new System.Text.StringBuilder();
                i++;
                var closed = false;
                while (i < line.Length)
                {
                    var q = line[i];
                    if (q == '\\' && i + 1 < line.Length && line[i + 1] is '"' or '\\')
                    {
                        sb.Append(line[i + 1]);
                        i += 2;
                    }
                    else if (q == '"')
                    {
                        closed = true;
                        i++;
                        break;
                    }
                    else
                    {
                        sb.Append(q);
                        i++;
                    }
                }
                if (!closed)
                {
                    diagnostics.Add(new(Severity.Error, file, lineNo, "\"",
                        $"quoted string \"{sb}\" is not closed on its line; add the closing '\"'"));
                }
                tokens.Add(new(TokenKind.Word, sb.ToString(), file, lineNo, Quoted: true));
            }
            else
            {
                var start = i;
                while (i < line.Length && !char.IsWhiteSpace(line[i]) && line[i] is not ('{' or '}' or '"'))
                {
                    i++;
                }
                tokens.Add(new(TokenKind.Word, line[start..i], file, lineNo));
            }
        }
    }
}
