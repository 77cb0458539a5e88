namespace Rampart.Common.Config;

public enum Severity { Warning, Error }

/// <summary>One finding about a configuration file: where it is, which keyword, and what is wrong.</summary>
public sealed record ConfigDiagnostic(Severity Severity, string File, int Line, string Keyword, string Message)
{
    /// <summary>keepalived-like: "keepalived.conf:42: error: priority: vrrp_instance VI_1: priority 300 outside 1-255".</summary>
    public override string ToString() =>
        $"{File}:{Line}: {(Severity == Severity.Error ? "error" : "warning")}: {Keyword}: {Message}";
}

/// <summary>Thrown when a file cannot be used; carries every diagnostic found.</summary>
public sealed class ConfigException(IReadOnlyList<ConfigDiagnostic> diagnostics)
    : Exception(string.Join(Environment.NewLine, diagnostics))
{
    public IReadOnlyList<ConfigDiagnostic> Diagnostics { get; } = diagnostics;
}
