namespace Rampart.Vrrp.Config;

internal enum TokenKind { Word, Open, Close }

/// <summary>One lexical token of keepalived.conf with where it was written.</summary>
/// <param name="Quoted">True when the word came from a double-quoted string (never a keyword such as include).</param>
internal readonly record struct KeepalivedToken(TokenKind Kind, string Text, string File, int Line, bool Quoted = false)
{
    public SourceLocation Location => new(File, Line);

    public bool IsWord => Kind == TokenKind.Word;

    /// <summary>Same physical line of the same file: the arguments of a keyword.</summary>
    public bool SameLine(in KeepalivedToken other) => Line == other.Line && string.Equals(File, other.File, StringComparison.Ordinal);
}
