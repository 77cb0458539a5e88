namespace Rampart.Common.Processes;

/// <summary>
/// An exclusive lock on a data directory for the life of a daemon (an flock on DIR/rampart.lock, released by the
/// kernel if the process dies): a second daemon started on the same directory stops with a clear error instead of
/// writing beside the first.
/// </summary>
public sealed class DataDirLock : IDisposable
{
    private readonly FileStream _file;

    private DataDirLock(FileStream file) => _file = file;

    /// <param name="owner">What holds it, for the error: "mon.a", "rampart up".</param>
    public static DataDirLock Acquire(string directory, string owner)
    {
        Directory.CreateDirectory(directory);
        string path = Path.Combine(directory, "rampart.lock");
        try
        {
            // FileShare.None is an exclusive flock on Linux.
            return new DataDirLock(new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None));
        }
        catch (IOException e) when (e is not DirectoryNotFoundException)
        {
            throw new IOException($"{directory} is in use by another process (is {owner} already running?)", e);
        }
    }

    public void Dispose() => _file.Dispose();
}
