using System.Collections.Immutable;
using System.Globalization;

namespace Rampart.Rados.Maps;

/// <summary>
/// Cluster-wide options kept in the map (Ceph's `ceph config set mon …` subset that the monitors act
/// on). Stored as strings, only those set explicitly; typed accessors supply the defaults. Known
/// options are validated when set (<see cref="TryValidate"/>); unknown ones are kept as given.
/// </summary>
public sealed class ClusterOptions : IEquatable<ClusterOptions>
{
    public const string MonAllowPoolDeleteKey = "mon_allow_pool_delete";
    public const string MonOsdDownOutIntervalKey = "mon_osd_down_out_interval";
    public const string OsdPoolDefaultSizeKey = "osd_pool_default_size";
    public const string MonOsdReportTimeoutKey = "mon_osd_report_timeout";

    public const bool MonAllowPoolDeleteDefault = false;
    public const long MonOsdDownOutIntervalDefaultSeconds = 600;
    public const int OsdPoolDefaultSizeDefault = 3;
    public const long MonOsdReportTimeoutDefaultSeconds = 30;

    public static ClusterOptions Default { get; } = new(ImmutableSortedDictionary.Create<string, string>(StringComparer.Ordinal));

    private ClusterOptions(ImmutableSortedDictionary<string, string> values) => Values = values;

    /// <summary>Options set explicitly, by name (ordinal order).</summary>
    public ImmutableSortedDictionary<string, string> Values { get; }

    public bool MonAllowPoolDelete => GetBool(MonAllowPoolDeleteKey, MonAllowPoolDeleteDefault);

    /// <summary>How long an OSD may stay down before the monitors mark it out; 0 disables auto-out.</summary>
    public TimeSpan MonOsdDownOutInterval => TimeSpan.FromSeconds(GetInt64(MonOsdDownOutIntervalKey, MonOsdDownOutIntervalDefaultSeconds));

    /// <summary>How long an up OSD may go without a beacon before the leader marks it down; 0 disables the check.</summary>
    public TimeSpan MonOsdReportTimeout => TimeSpan.FromSeconds(GetInt64(MonOsdReportTimeoutKey, MonOsdReportTimeoutDefaultSeconds));

    public int OsdPoolDefaultSize => (int)GetInt64(OsdPoolDefaultSizeKey, OsdPoolDefaultSizeDefault);

    public string? Get(string key) => Values.GetValueOrDefault(key);

    public bool GetBool(string key, bool fallback) =>
        Values.TryGetValue(key, out string? text) && TryParseBool(text, out bool value) ? value : fallback;

    public long GetInt64(string key, long fallback) =>
        Values.TryGetValue(key, out string? text) && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long value) ? value : fallback;

    public double GetDouble(string key, double fallback) =>
        Values.TryGetValue(key, out string? text) && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) ? value : fallback;

    /// <summary>A copy with <paramref name="key"/> set; throws <see cref="ArgumentException"/> when invalid.</summary>
    public ClusterOptions Set(string key, string value) =>
        TryValidate(key, value, out string? error) ? new ClusterOptions(Values.SetItem(key, value)) : throw new ArgumentException(error, nameof(value));

    public ClusterOptions Remove(string key) => new(Values.Remove(key));

    internal static ClusterOptions FromValues(IEnumerable<KeyValuePair<string, string>> values) =>
        new(ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, values));

    /// <summary>Checks a value against the option's type; names must be lowercase words joined by '_'.</summary>
    public static bool TryValidate(string key, string value, out string? error)
    {
        error = null;
        if (string.IsNullOrEmpty(key) || !key.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '_'))
            error = $"invalid option name '{key}' (lowercase letters, digits and '_')";
        else if (value is null)
            error = $"{key}: no value";
        else if (key == MonAllowPoolDeleteKey && !TryParseBool(value, out _))
            error = $"{key}: '{value}' is not a boolean (true or false)";
        else if (key is MonOsdDownOutIntervalKey or MonOsdReportTimeoutKey && !(long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out long seconds) && seconds <= int.MaxValue))
            error = $"{key}: '{value}' is not a number of seconds >= 0";
        else if (key == OsdPoolDefaultSizeKey && !(int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int size) && size is >= 1 and <= PoolInfo.MaxSize))
            error = $"{key}: '{value}' is not a pool size between 1 and {PoolInfo.MaxSize}";
        return error is null;
    }

    /// <summary>Ceph's boolean spellings: true/false, yes/no, 1/0.</summary>
    public static bool TryParseBool(string text, out bool value)
    {
        switch (text.ToLowerInvariant())
        {
            case "true" or "yes" or "1": value = true; return true;
            case "false" or "no" or "0": value = false; return true;
            default: value = false; return false;
        }
    }

    public bool Equals(ClusterOptions? other) =>
        other is not null && Values.Count == other.Values.Count
        && Values.All(kv => other.Values.TryGetValue(kv.Key, out string? v) && v == kv.Value);

    public override bool Equals(object? obj) => Equals(obj as ClusterOptions);

    public override int GetHashCode() => Values.Count;
}
