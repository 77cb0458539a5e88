using System.Text.Json.Serialization;
using Rampart.Rados.Maps;

namespace Rampart.Rados.Mon;

/// <summary>
/// A change request to the monitors. Commands are plain data (JSON through <see cref="MonCommandCodec"/>),
/// replicated through Raft as opaque bytes and applied by <see cref="MonitorState.Apply"/> in log order.
/// Anything random or time-dependent (keys, "now") is chosen by the proposer and carried in the
/// command, so every monitor computes the same next state.
/// </summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "cmd")]
[JsonDerivedType(typeof(OsdBoot), "osd_boot")]
[JsonDerivedType(typeof(OsdMarkDown), "osd_down")]
[JsonDerivedType(typeof(OsdBeacon), "osd_beacon")]
[JsonDerivedType(typeof(OsdMarkUp), "osd_up")]
[JsonDerivedType(typeof(OsdOut), "osd_out")]
[JsonDerivedType(typeof(OsdIn), "osd_in")]
[JsonDerivedType(typeof(OsdLost), "osd_lost")]
[JsonDerivedType(typeof(OsdReweight), "osd_reweight")]
[JsonDerivedType(typeof(AutoOut), "auto_out")]
[JsonDerivedType(typeof(PoolCreate), "osd_pool_create")]
[JsonDerivedType(typeof(PoolDelete), "osd_pool_rm")]
[JsonDerivedType(typeof(PoolSet), "osd_pool_set")]
[JsonDerivedType(typeof(SetOption), "config_set")]
[JsonDerivedType(typeof(CrushAddBucket), "osd_crush_add_bucket")]
[JsonDerivedType(typeof(CrushMove), "osd_crush_move")]
[JsonDerivedType(typeof(AuthAdd), "auth_add")]
[JsonDerivedType(typeof(AuthGetOrCreate), "auth_get_or_create")]
[JsonDerivedType(typeof(AuthCaps), "auth_caps")]
[JsonDerivedType(typeof(AuthRemove), "auth_rm")]
[JsonDerivedType(typeof(SnapCreate), "pool_selfmanaged_snap_create")]
[JsonDerivedType(typeof(SnapRemove), "pool_selfmanaged_snap_rm")]
[JsonDerivedType(typeof(SnapPublish), "pool_selfmanaged_snap_publish")]
[JsonDerivedType(typeof(PgActivate), "pg_activate")]
[JsonDerivedType(typeof(PgActivations), "pg_activations")]
public abstract record MonCommand;

/// <summary>An OSD starts: registers its address; placed under host <paramref name="Host"/> (created under
/// root "default" if missing) with <paramref name="Weight"/> when CRUSH does not know it yet. Marks it up,
/// and in when it is new or was marked out automatically (an administrator's `osd out` sticks).</summary>
public sealed record OsdBoot(int Id, string Address, string Host, double Weight) : MonCommand;

/// <summary>Marks an OSD down (failure reports, or `osd down`); <paramref name="At"/> starts the down-out clock.
/// <paramref name="SeenUpFrom"/>: the incarnation the reporter saw fail; a report about an earlier one is stale and ignored.</summary>
public sealed record OsdMarkDown(int Id, string Reason, DateTimeOffset At, long? SeenUpFrom = null) : MonCommand;

/// <summary>An OSD says it is alive (every osd_beacon_report_interval). Kept by the leader in memory, never logged:
/// an up OSD silent for mon_osd_report_timeout is marked down even when no peer is left to report it.</summary>
public sealed record OsdBeacon(int Id) : MonCommand;

public sealed record OsdMarkUp(int Id) : MonCommand;

public sealed record OsdOut(int Id) : MonCommand;

public sealed record OsdIn(int Id) : MonCommand;

/// <summary>`osd reweight ID W`, W within 0..1.</summary>
public sealed record OsdReweight(int Id, double Weight) : MonCommand;

/// <summary>Marks out every in OSD that has been down for at least mon_osd_down_out_interval at <paramref name="Now"/>.</summary>
public sealed record AutoOut(DateTimeOffset Now) : MonCommand;

/// <summary>`osd pool create NAME [PG_NUM]`. Without <paramref name="PgNum"/> the default is
/// PgCount.Default(#OSDs, size, #pools including this one). <paramref name="Rule"/> null means "replicated_rule".</summary>
public sealed record PoolCreate(string Name, uint? PgNum = null, int Size = 3, int MinSize = 2, string? Rule = null, string? Application = null) : MonCommand;

/// <summary>`osd pool rm NAME NAME --yes-i-really-really-mean-it`.</summary>
public sealed record PoolDelete(string Name, string ConfirmName, bool ReallyReallyMeanIt) : MonCommand;

/// <summary>`osd pool set NAME KEY VALUE`: size, min_size, pg_num (grow only: PGs split, never merge), crush_rule, application, nodelete.</summary>
public sealed record PoolSet(string Name, string Key, string Value) : MonCommand;

/// <summary>`config set mon KEY VALUE` for the options kept in the map (<see cref="ClusterOptions"/>).</summary>
public sealed record SetOption(string Key, string Value) : MonCommand;

/// <summary>`osd crush add-bucket NAME TYPE` (host, rack, root); a new bucket is a root until moved.</summary>
public sealed record CrushAddBucket(string Name, string Type) : MonCommand;

/// <summary>`osd crush move NAME PARENT`: a bucket or "osd.N"; <paramref name="Parent"/> is a bucket name or "type=name".</summary>
public sealed record CrushMove(string Name, string Parent) : MonCommand;

/// <summary>`auth add ENTITY caps…` with a key the proposer generated (base64). Output: the entity's key.</summary>
public sealed record AuthAdd(string Entity, string Key, IReadOnlyDictionary<string, string> Caps) : MonCommand;

/// <summary>`auth get-or-create ENTITY caps…`: the existing key if the caps match, else creates it with <paramref name="Key"/>.</summary>
public sealed record AuthGetOrCreate(string Entity, string Key, IReadOnlyDictionary<string, string> Caps) : MonCommand;

/// <summary>`auth caps ENTITY caps…`: replaces all caps of an existing entity.</summary>
public sealed record AuthCaps(string Entity, IReadOnlyDictionary<string, string> Caps) : MonCommand;

public sealed record AuthRemove(string Entity) : MonCommand;

/// <summary>Allocates the next self-managed snapshot id of the pool (RBD). Output: the id.</summary>
public sealed record SnapCreate(string Pool) : MonCommand;

/// <summary>Marks a self-managed snapshot id removed; OSDs trim its data in the background.</summary>
public sealed record SnapRemove(string Pool, ulong SnapId) : MonCommand;

/// <summary>A snapshot was added to (or removed from) an image header: bumps the pool's snap generation so that
/// writers with an older snapshot context are refused (EOLDSNAPC) and refresh theirs. Output: the generation.</summary>
public sealed record SnapPublish(string Pool) : MonCommand;

/// <summary>
/// The outcome of a command, as Ceph reports it: <see cref="Success"/>, a status line
/// (errors start with "Error E…:", as the ceph CLI prints them) and an optional output
/// (a key, a snapshot id).
/// </summary>
public sealed record MonResult(bool Success, string Message, string? Output = null)
{
    public static MonResult Ok(string message, string? output = null) => new(true, message, output);

    public static MonResult Error(string errno, string message) => new(false, $"Error {errno}: {message}");
}

/// <summary>Commands as bytes for the Raft log: a version byte then JSON with a "cmd" discriminator.</summary>
public static class MonCommandCodec
{
    public const byte FormatVersion = 1;

    public static byte[] Encode(MonCommand command) =>
        Framing.Encode(FormatVersion, command, MonJsonContext.Default.MonCommand);

    public static MonCommand Decode(ReadOnlySpan<byte> bytes) =>
        Framing.Decode(bytes, "monitor command", FormatVersion, MonJsonContext.Default.MonCommand);
}
