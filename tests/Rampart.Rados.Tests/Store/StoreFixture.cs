using Rampart.Rados.Osd.Store;

namespace Rampart.Rados.Tests.Store;

/// <summary>A store in a temp dir (parents included), deleted on dispose.</summary>
public sealed class TempStore : IDisposable
{
    public string Root { get; } = Path.Combine(Path.GetTempPath(), "rampart-store-" + Guid.NewGuid().ToString("N"));
    public string DbPath => Path.Combine(Root, "osd.0", "store");
    public ObjectStoreOptions Options { get; }
    public ObjectStore Store { get; private set; }

    public TempStore(ObjectStoreOptions? options = null)
    {
        Options = options ?? new ObjectStoreOptions { ChunkSize = 4096 };
        Store = ObjectStore.Open(DbPath, Options);
    }

    public ObjectStore Reopen()
    {
        Store.Dispose();
        Store = ObjectStore.Open(DbPath, Options);
        return Store;
    }

    public void Dispose()
    {
        Store.Dispose();
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }
}

internal static class Bytes
{
    public static byte[] Pattern(int length, int seed)
    {
        var b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }
}
