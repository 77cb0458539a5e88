using System.Buffers.Binary;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Rampart.Rbd.Images;

/// <summary>A snapshot of an image: its pool-wide snapshot id, name, size then, and the parent overlap then (clones).</summary>
public sealed record SnapRecord(ulong Id, string Name, long Size, bool Protected, DateTimeOffset Created, long ParentOverlap);

/// <summary>Where a clone reads what it has not written yet: an image snapshot, up to <see cref="Overlap"/> bytes.</summary>
public sealed record ParentRecord(long PoolId, string ImageId, ulong SnapId, long Overlap);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(SnapRecord))]
[JsonSerializable(typeof(ParentRecord))]
internal sealed partial class RbdJsonContext : JsonSerializerContext;

/// <summary>
/// The image header, kept in the omap of object <c>rbd_header.ID</c> (one key per field, one per
/// snapshot) so that each change is one small omap write: size, order, snap_seq, create_timestamp,
/// parent, snapshot_XXXXXXXXXXXXXXXX.
/// </summary>
public sealed record ImageHeader(string Id, long Size, int Order, ulong SnapSeq, DateTimeOffset Created, ParentRecord? Parent, IReadOnlyList<SnapRecord> Snaps)
{
    public const int MinOrder = 12, MaxOrder = 25, DefaultOrder = 22;
    public const string SizeKey = "size", OrderKey = "order", SnapSeqKey = "snap_seq", CreatedKey = "create_timestamp", ParentKey = "parent", SnapPrefix = "snapshot_";

    public static string HeaderObject(string id) => $"rbd_header.{id}";

    public string HeaderName => HeaderObject(Id);

    public string DataObject(long objectNo) => $"rbd_data.{Id}.{objectNo:x16}";

    public long ObjectSize => 1L << Order;

    public SnapRecord? FindSnap(string name) => Snaps.FirstOrDefault(s => s.Name == name);

    public static string SnapKey(ulong id) => $"{SnapPrefix}{id:x16}";

    public static KeyValuePair<string, byte[]> U64(string key, ulong value)
    {
        var bytes = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, value);
        return new(key, bytes);
    }

    public static KeyValuePair<string, byte[]> Snap(SnapRecord snap) => new(SnapKey(snap.Id), JsonSerializer.SerializeToUtf8Bytes(snap, RbdJsonContext.Default.SnapRecord));

    public static KeyValuePair<string, byte[]> ParentEntry(ParentRecord parent) => new(ParentKey, JsonSerializer.SerializeToUtf8Bytes(parent, RbdJsonContext.Default.ParentRecord));

    /// <summary>The omap entries of a new header.</summary>
    public IReadOnlyList<KeyValuePair<string, byte[]>> Entries()
    {
        var entries = new List<KeyValuePair<string, byte[]>>
        {
            U64(SizeKey, (ulong)Size), new(OrderKey, [(byte)Order]), U64(SnapSeqKey, SnapSeq), U64(CreatedKey, (ulong)Created.ToUnixTimeMilliseconds()),
        };
        if (Parent is not null) entries.Add(ParentEntry(Parent));
        entries.AddRange(Snaps.Select(Snap));
        return entries;
    }

    /// <summary>Reads a header back from its omap; a missing or damaged field is a FormatException naming it.</summary>
    public static ImageHeader Decode(string id, IReadOnlyList<KeyValuePair<string, byte[]>> omap)
    {
        var map = omap.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
        ulong Num(string key) => map.TryGetValue(key, out var v) && v.Length == 8 ? BinaryPrimitives.ReadUInt64LittleEndian(v)
            : throw new FormatException($"Error EIO: image {id}: header field '{key}' is missing or damaged");
        int order = map.TryGetValue(OrderKey, out var o) && o.Length == 1 && o[0] is >= MinOrder and <= MaxOrder ? o[0]
            : throw new FormatException($"Error EIO: image {id}: header field '{OrderKey}' is missing or damaged");
        try
        {
            var parent = map.TryGetValue(ParentKey, out var p) ? JsonSerializer.Deserialize(p, RbdJsonContext.Default.ParentRecord) : null;
            var snaps = omap.Where(e => e.Key.StartsWith(SnapPrefix, StringComparison.Ordinal))
                .Select(e => JsonSerializer.Deserialize(e.Value, RbdJsonContext.Default.SnapRecord)!)
                .OrderBy(s => s.Id).ToList();
            return new ImageHeader(id, (long)Num(SizeKey), order, Num(SnapSeqKey), DateTimeOffset.FromUnixTimeMilliseconds((long)Num(CreatedKey)), parent, snaps);
        }
        catch (JsonException e)
        {
            throw new FormatException($"Error EIO: image {id}: damaged header: {e.Message}");
        }
    }
}
