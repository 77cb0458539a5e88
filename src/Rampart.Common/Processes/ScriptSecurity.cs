namespace Rampart.Common.Processes;

/// <summary>
/// keepalived's enable_script_security: a script run as root must not be replaceable by another user, so neither
/// the file nor any directory above it may be writable by group or others (sticky directories excepted).
/// </summary>
public static class ScriptSecurity
{
    /// <summary>Null when the command's program is safe to run, else why not.</summary>
    public static string? Problem(string command)
    {
        var program = command.TrimStart().Split(' ', 2)[0].Trim('"', '\'');
        if (!Path.IsPathRooted(program)) return $"'{program}' is not an absolute path";
        if (!File.Exists(program)) return $"'{program}' does not exist";
        for (string? path = program; !string.IsNullOrEmpty(path); path = Path.GetDirectoryName(path))
        {
            var mode = File.GetUnixFileMode(path);
            // A sticky directory (like /tmp) lets others add files but not replace ours.
            bool stickyDirectory = path != program && (mode & UnixFileMode.StickyBit) != 0;
            if (!stickyDirectory && (mode & (UnixFileMode.GroupWrite | UnixFileMode.OtherWrite)) != 0)
                return $"'{path}' is writable by group or others";
        }
        return null;
    }
}
