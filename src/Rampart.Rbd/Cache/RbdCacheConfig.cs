using System.Globalization;
using Rampart.Common.Config;
using Rampart.Rados.Config;

namespace Rampart.Rbd.Cache;

/// <summary>
/// The client-side cache options (librbd's names and defaults), read for one client entity from rampart.conf:
/// [client.NAME], then [client], then [global]. Sizes are bytes, or with a K, M, G or T suffix (powers of 1024).
/// </summary>
public sealed record RbdCacheConfig
{
    public static RbdCacheConfig Default { get; } = new();

    /// <summary>rbd_cache: buffer writes in this process (writeback). Off: every write goes to the cluster.</summary>
    public bool Enabled { get; init; }

    /// <summary>rbd_cache_size: bytes held per image, dirty and clean (data written out stays for reads).</summary>
    public long Size { get; init; } = 32L << 20;

    /// <summary>rbd_cache_max_dirty: acknowledged bytes not yet written out, per image; writers wait beyond it. 0 = write-through.</summary>
    public long MaxDirty { get; init; } = 24L << 20;

    /// <summary>rbd_cache_target_dirty: above this the background flusher writes out the oldest data.</summary>
    public long TargetDirty { get; init; } = 16L << 20;

    /// <summary>rbd_cache_max_dirty_age: data older than this is written out in the background.</summary>
    public TimeSpan MaxDirtyAge { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// rbd_cache_writethrough_until_flush: write through until the client's first FLUSH, so a client that never
    /// flushes (and so cannot be relying on a writeback cache) never loses acknowledged writes.
    /// </summary>
    public bool WritethroughUntilFlush { get; init; } = true;

    public bool WriteThrough => MaxDirty == 0;

    public static readonly string[] Keys =
        ["rbd_cache", "rbd_cache_size", "rbd_cache_max_dirty", "rbd_cache_target_dirty", "rbd_cache_max_dirty_age", "rbd_cache_writethrough_until_flush"];

    /// <summary>The options for <paramref name="entity"/> ("client.admin"); every mistake at once in a <see cref="ConfigException"/>.</summary>
    public static RbdCacheConfig FromConf(RampartConf conf, string entity)
    {
        var errors = new List<ConfigDiagnostic>();
        var d = Default;
        var config = new RbdCacheConfig
        {
            Enabled = Parse(conf, entity, "rbd_cache", d.Enabled, TryParseBool, "true or false", errors),
            Size = Parse(conf, entity, "rbd_cache_size", d.Size, TryParseSize, "a size (bytes, or with K, M, G, T)", errors),
            MaxDirty = Parse(conf, entity, "rbd_cache_max_dirty", d.MaxDirty, TryParseSize, "a size (bytes, or with K, M, G, T)", errors),
            TargetDirty = Parse(conf, entity, "rbd_cache_target_dirty", d.TargetDirty, TryParseSize, "a size (bytes, or with K, M, G, T)", errors),
            MaxDirtyAge = Parse(conf, entity, "rbd_cache_max_dirty_age", d.MaxDirtyAge, TryParseSeconds, "seconds, 0 or more", errors),
            WritethroughUntilFlush = Parse(conf, entity, "rbd_cache_writethrough_until_flush", d.WritethroughUntilFlush, TryParseBool, "true or false", errors),
        };
        if (errors.Count == 0)
            errors.AddRange(config.Validate(conf.Path, entity));
        return errors.Count == 0 ? config : throw new ConfigException(errors);
    }

    /// <summary>What librbd refuses too: more dirty than the cache holds, a target above the limit.</summary>
    public IEnumerable<ConfigDiagnostic> Validate(string file, string entity)
    {
        if (MaxDirty > Size)
            yield return new(Severity.Error, file, 0, "rbd_cache_max_dirty",
                $"[{entity}] rbd_cache_max_dirty ({FormatSize(MaxDirty)}) is more than rbd_cache_size ({FormatSize(Size)}): lower it or raise rbd_cache_size");
        if (MaxDirty > 0 && TargetDirty > MaxDirty)
            yield return new(Severity.Error, file, 0, "rbd_cache_target_dirty",
                $"[{entity}] rbd_cache_target_dirty ({FormatSize(TargetDirty)}) is more than rbd_cache_max_dirty ({FormatSize(MaxDirty)}): lower it or raise rbd_cache_max_dirty");
    }

    /// <summary>The values as `config show` prints them: strings, under their option names.</summary>
    public IEnumerable<KeyValuePair<string, string>> Show() =>
    [
        new("rbd_cache", Enabled ? "true" : "false"),
        new("rbd_cache_size", Size.ToString(CultureInfo.InvariantCulture)),
        new("rbd_cache_max_dirty", MaxDirty.ToString(CultureInfo.InvariantCulture)),
        new("rbd_cache_target_dirty", TargetDirty.ToString(CultureInfo.InvariantCulture)),
        new("rbd_cache_max_dirty_age", MaxDirtyAge.TotalSeconds.ToString("0.0##", CultureInfo.InvariantCulture)),
        new("rbd_cache_writethrough_until_flush", WritethroughUntilFlush ? "true" : "false"),
    ];

    private delegate bool TryParser<T>(string text, out T value);

    private static T Parse<T>(RampartConf conf, string entity, string key, T fallback, TryParser<T> parse, string expected, List<ConfigDiagnostic> errors)
    {
        if (conf.Get(entity, key) is not { } text) return fallback;
        if (parse(text, out var value)) return value;
        errors.Add(new ConfigDiagnostic(Severity.Error, conf.Path, 0, key, $"[{entity}] {key} = '{text}' is not {expected}"));
        return fallback;
    }

    private static bool TryParseBool(string text, out bool value)
    {
        switch (text.ToLowerInvariant())
        {
            case "true" or "yes" or "1" or "on": value = true; return true;
            case "false" or "no" or "0" or "off": value = false; return true;
            default: value = false; return false;
        }
    }

    /// <summary>"33554432", "32M", "32MiB", "32 MB": sizes in powers of 1024, as Ceph reads them.</summary>
    public static bool TryParseSize(string text, out long value)
    {
        value = 0;
        var t = text.Trim();
        int digits = 0;
        while (digits < t.Length && char.IsAsciiDigit(t[digits])) digits++;
        if (digits == 0 || !long.TryParse(t.AsSpan(0, digits), NumberStyles.None, CultureInfo.InvariantCulture, out long number)) return false;
        string unit = t[digits..].Trim().ToUpperInvariant();
        if (unit.EndsWith('B')) unit = unit[..^1];
        if (unit.EndsWith('I')) unit = unit[..^1];
        int shift = unit switch { "" => 0, "K" => 10, "M" => 20, "G" => 30, "T" => 40, _ => -1 };
        if (shift < 0 || number > long.MaxValue >> shift) return false;
        value = number << shift;
        return true;
    }

    private static bool TryParseSeconds(string text, out TimeSpan value)
    {
        value = default;
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double seconds) || seconds < 0 || seconds > 86400 || double.IsNaN(seconds)) return false;
        value = TimeSpan.FromSeconds(seconds);
        return true;
    }

    private static string FormatSize(long bytes) =>
        bytes != 0 && bytes % (1 << 20) == 0 ? $"{bytes >> 20}M" : bytes != 0 && bytes % 1024 == 0 ? $"{bytes >> 10}K" : bytes.ToString(CultureInfo.InvariantCulture);
}
