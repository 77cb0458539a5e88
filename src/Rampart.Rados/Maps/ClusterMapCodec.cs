using System.Collections.Immutable;
using System.Text.Json;
using System.Text.Json.Serialization;
using Rampart.Rados.Crush;

namespace Rampart.Rados.Maps;

/// <summary>The error for bytes that are not an encoded cluster map (or monitor snapshot, or command).</summary>
public sealed class MapFormatException(string message, Exception? inner = null) : FormatException(message, inner);

/// <summary>
/// Binary form of a <see cref="ClusterMap"/>: one format-version byte (<see cref="FormatVersion"/>)
/// followed by UTF-8 JSON (snake_case). The CRUSH map travels as its buckets and rules, so the
/// decoded map places every PG exactly as the encoded one. Encoding is canonical: equal maps give
/// equal bytes. <see cref="Decode"/> throws <see cref="MapFormatException"/> saying what is wrong.
/// </summary>
public static class ClusterMapCodec
{
    public const byte FormatVersion = 1;

    public static byte[] Encode(ClusterMap map) =>
        Framing.Encode(FormatVersion, ToDto(map), MapJsonContext.Default.ClusterMapDto);

    public static ClusterMap Decode(ReadOnlySpan<byte> bytes) =>
        FromDto(Framing.Decode(bytes, "cluster map", FormatVersion, MapJsonContext.Default.ClusterMapDto), "cluster map");

    internal static ClusterMapDto ToDto(ClusterMap map) => new(
        map.Fsid,
        map.Epoch,
        [.. map.Monitors.Values.Select(m => new MonitorDto(m.Name, m.Address))],
        [.. map.Osds.Values.Select(o => new OsdDto(o.Id, o.Address, o.Host, o.CrushWeight, o.Up, o.Reweight, o.UpFrom, o.DownSince, o.AutoOut, o.DownAt))],
        new CrushDto(
            [.. map.Crush.Buckets.Select(b => new BucketDto(b.Id, b.Name, CrushBucketTypes.Name(b.Type), [.. b.Items.Select(i => new ItemDto(i.Id, i.Weight))]))],
            [.. map.Crush.Rules.Select(r => new RuleDto(r.Id, r.Name, r.Root, CrushBucketTypes.Name(r.FailureDomainType)))]),
        [.. map.Pools.Values.Select(p => new PoolDto(p.Id, p.Name, p.Size, p.MinSize, p.PgNum, p.CrushRule, p.SnapSeq, [.. p.RemovedSnaps], p.Application, (int)p.Flags, p.SnapGeneration, p.CreatedEpoch, p.SplitEpoch))],
        map.PoolMax,
        [.. map.Options.Values.Select(kv => new OptionDto(kv.Key, kv.Value))]);

    internal static ClusterMap FromDto(ClusterMapDto dto, string what)
    {
        try
        {
            if (dto.Epoch < 1)
                throw new ArgumentException($"epoch {dto.Epoch} is not >= 1");
            var crush = CrushMap.FromParts(
                dto.Crush.Buckets.Select(b => new CrushBucket(b.Id, b.Name, ParseType(b.Type, $"bucket '{b.Name}'"),
                    [.. b.Items.Select(i => new CrushItem(i.Id, i.Weight))])),
                dto.Crush.Rules.Select(r => new CrushRule(r.Name, r.Id, r.Root, ParseType(r.FailureDomain, $"rule '{r.Name}'"))));

            var mons = ImmutableSortedDictionary.CreateBuilder<string, MonitorInfo>(StringComparer.Ordinal);
            foreach (var m in dto.Monitors)
            {
                if (!mons.TryAdd(m.Name, new MonitorInfo(m.Name, m.Address)))
                    throw new ArgumentException($"monitor '{m.Name}' appears twice");
            }
            var osds = ImmutableSortedDictionary.CreateBuilder<int, OsdInfo>();
            foreach (var o in dto.Osds)
            {
                if (o.Id < 0)
                    throw new ArgumentException($"osd id {o.Id} is negative");
                if (!double.IsFinite(o.Reweight) || o.Reweight is < 0 or > 1)
                    throw new ArgumentException($"osd.{o.Id}: reweight {o.Reweight} is not within 0..1");
                if (!osds.TryAdd(o.Id, new OsdInfo(o.Id, o.Address, o.Host, o.CrushWeight, o.Up, o.Reweight, o.UpFrom, o.DownSince, o.AutoOut, o.DownAt)))
                    throw new ArgumentException($"osd.{o.Id} appears twice");
            }
            var pools = ImmutableSortedDictionary.CreateBuilder<long, PoolInfo>();
            var poolNames = new HashSet<string>(StringComparer.Ordinal);
            foreach (var p in dto.Pools)
            {
                if (p.PgNum == 0 || p.Size is < 1 or > PoolInfo.MaxSize || p.MinSize < 1 || p.MinSize > p.Size)
                    throw new ArgumentException($"pool '{p.Name}': size {p.Size}, min_size {p.MinSize}, pg_num {p.PgNum} are inconsistent");
                if (p.Id < 1 || p.Id > dto.PoolMax)
                    throw new ArgumentException($"pool '{p.Name}': id {p.Id} is not within 1..pool_max {dto.PoolMax}");
                if (!poolNames.Add(p.Name))
                    throw new ArgumentException($"pool name '{p.Name}' appears twice");
                var pool = new PoolInfo(p.Id, p.Name, p.Size, p.MinSize, p.PgNum, p.CrushRule, p.SnapSeq,
                    [.. p.RemovedSnaps], p.Application, (PoolFlags)p.Flags, p.SnapGeneration, p.CreatedEpoch, p.SplitEpoch);
                if (!pools.TryAdd(p.Id, pool))
                    throw new ArgumentException($"pool id {p.Id} appears twice");
            }
            var options = new HashSet<string>(StringComparer.Ordinal);
            foreach (var o in dto.Options)
            {
                if (!options.Add(o.Key))
                    throw new ArgumentException($"option '{o.Key}' appears twice");
                if (!ClusterOptions.TryValidate(o.Key, o.Value, out string? error))
                    throw new ArgumentException(error);
            }
            return new ClusterMap
            {
                Fsid = dto.Fsid,
                Epoch = dto.Epoch,
                Monitors = mons.ToImmutable(),
                Osds = osds.ToImmutable(),
                Crush = crush,
                Pools = pools.ToImmutable(),
                PoolMax = dto.PoolMax,
                Options = ClusterOptions.FromValues(dto.Options.Select(o => KeyValuePair.Create(o.Key, o.Value))),
            };
        }
        catch (ArgumentException e)
        {
            throw new MapFormatException($"{what}: invalid content: {e.Message}", e);
        }
    }

    private static CrushBucketType ParseType(string name, string owner) =>
        CrushBucketTypes.TryParse(name, out var type) ? type : throw new ArgumentException($"{owner}: unknown bucket type '{name}'");
}

/// <summary>Version byte + JSON, with the errors every decoder reports alike.</summary>
internal static class Framing
{
    public static byte[] Encode<T>(byte version, T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> info)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        buffer.GetSpan(1)[0] = version;
        buffer.Advance(1);
        using (var writer = new Utf8JsonWriter(buffer))
            JsonSerializer.Serialize(writer, value, info);
        return buffer.WrittenSpan.ToArray();
    }

    public static T Decode<T>(ReadOnlySpan<byte> bytes, string what, byte version, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> info)
        where T : class
    {
        if (bytes.IsEmpty)
            throw new MapFormatException($"{what}: no data (0 bytes)");
        if (bytes[0] != version)
            throw new MapFormatException($"{what}: unsupported format version {bytes[0]} (expected {version})");
        try
        {
            return JsonSerializer.Deserialize(bytes[1..], info) ?? throw new MapFormatException($"{what}: null document");
        }
        catch (JsonException e)
        {
            throw new MapFormatException($"{what}: malformed data: {e.Message}", e);
        }
        catch (NotSupportedException e)
        {
            throw new MapFormatException($"{what}: malformed data: {e.Message}", e);
        }
    }
}

internal sealed record ClusterMapDto(
    Guid Fsid, long Epoch, MonitorDto[] Monitors, OsdDto[] Osds, CrushDto Crush, PoolDto[] Pools, long PoolMax, OptionDto[] Options);

internal sealed record MonitorDto(string Name, string Address);

internal sealed record OsdDto(
    int Id, string Address, string Host, double CrushWeight, bool Up, double Reweight, long UpFrom, DateTimeOffset? DownSince, bool AutoOut, long DownAt = 0);

internal sealed record CrushDto(BucketDto[] Buckets, RuleDto[] Rules);

internal sealed record BucketDto(int Id, string Name, string Type, ItemDto[] Items);

internal sealed record ItemDto(int Id, double Weight);

internal sealed record RuleDto(int Id, string Name, string Root, string FailureDomain);

internal sealed record PoolDto(
    long Id, string Name, int Size, int MinSize, uint PgNum, int CrushRule, ulong SnapSeq, ulong[] RemovedSnaps, string? Application, int Flags, ulong SnapGeneration = 0, long CreatedEpoch = 0, long SplitEpoch = 0);

internal sealed record OptionDto(string Key, string Value);

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    RespectNullableAnnotations = true,
    RespectRequiredConstructorParameters = true)]
[JsonSerializable(typeof(ClusterMapDto))]
internal sealed partial class MapJsonContext : JsonSerializerContext;
