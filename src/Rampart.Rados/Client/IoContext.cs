using Rampart.Rados.Maps;
using Rampart.Rados.Osd;
using Rampart.Rados.Osd.Store;
using Rampart.Rados.Placement;

namespace Rampart.Rados.Client;

/// <summary>
/// Object operations on one pool (librados' IoCtx). Writes carry <see cref="SnapContext"/> (self-managed
/// snapshots); reads go to head, or to <see cref="ReadSnap"/> when set.
/// </summary>
public sealed class IoContext(RadosClient client, PoolInfo pool)
{
    public PoolInfo Pool { get; } = pool;

    public SnapContext SnapContext { get; set; } = SnapContext.Empty;

    public ulong? ReadSnap { get; set; }

    /// <summary>The pool snap generation <see cref="SnapContext"/> was read at; set, writes fail with EOLDSNAPC once the pool moved past it.</summary>
    public ulong? SnapGuard { get; set; }

    private Task<OpReply> Submit(string name, CancellationToken token, params ObjectOp[] ops) =>
        client.SubmitAsync(Pool.Id, name, ops, SnapContext, ops.Any(o => o.IsWrite) ? null : ReadSnap, token, snapGuard: SnapGuard);

    public Task WriteFullAsync(string name, ReadOnlyMemory<byte> data, CancellationToken token = default) => Submit(name, token, ObjectOp.WriteFull(data));

    public Task WriteAsync(string name, long offset, ReadOnlyMemory<byte> data, CancellationToken token = default) => Submit(name, token, ObjectOp.Write(offset, data));

    public Task TruncateAsync(string name, long size, CancellationToken token = default) => Submit(name, token, ObjectOp.Truncate(size));

    public Task CreateAsync(string name, CancellationToken token = default) => Submit(name, token, ObjectOp.Create());

    /// <summary>Several steps on one object, applied atomically (all or none); the results in order.</summary>
    public async Task<IReadOnlyList<OpResult>> OperateAsync(string name, IReadOnlyList<ObjectOp> ops, CancellationToken token = default) =>
        (await Submit(name, token, [.. ops]).ConfigureAwait(false)).Results;

    public Task RemoveAsync(string name, CancellationToken token = default) => Submit(name, token, ObjectOp.Remove());

    /// <summary>Reads up to <paramref name="length"/> bytes at <paramref name="offset"/> (fewer at the end of the object).</summary>
    public async Task<byte[]> ReadAsync(string name, long offset, long length, CancellationToken token = default) =>
        (await Submit(name, token, ObjectOp.Read(offset, length)).ConfigureAwait(false)).Results[0].Data;

    /// <summary>The whole object.</summary>
    public async Task<byte[]> ReadAllAsync(string name, CancellationToken token = default)
    {
        var reply = await Submit(name, token, ObjectOp.Stat(), ObjectOp.Read(0, 64 << 20)).ConfigureAwait(false);
        return reply.Results[1].Data;
    }

    /// <summary>Byte ranges changed since snapshot <paramref name="fromSnap"/> (0: all data) as of <see cref="ReadSnap"/> or head, and the stat then (null: absent).</summary>
    public async Task<(ObjectStat? Stat, IReadOnlyList<(long Offset, long Length)> Extents)> DiffAsync(string name, ulong fromSnap, CancellationToken token = default)
    {
        var result = (await Submit(name, token, ObjectOp.Diff(fromSnap)).ConfigureAwait(false)).Results[0];
        return (result.Stat, result.Extents);
    }

    public async Task<ObjectStat> StatAsync(string name, CancellationToken token = default) =>
        (await Submit(name, token, ObjectOp.Stat()).ConfigureAwait(false)).Results[0].Stat!;

    public Task OmapSetAsync(string name, IReadOnlyList<KeyValuePair<string, byte[]>> pairs, CancellationToken token = default) =>
        Submit(name, token, ObjectOp.OmapSet(pairs));

    public async Task<IReadOnlyDictionary<string, byte[]>> OmapGetAsync(string name, IReadOnlyList<string> keys, CancellationToken token = default) =>
        (await Submit(name, token, ObjectOp.OmapGet(keys)).ConfigureAwait(false)).Results[0].Pairs.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);

    public Task OmapRemoveAsync(string name, IReadOnlyList<string> keys, CancellationToken token = default) =>
        Submit(name, token, ObjectOp.OmapRemove(keys));

    /// <summary>Every omap entry of the object, in key order.</summary>
    public async Task<IReadOnlyList<KeyValuePair<string, byte[]>>> OmapListAsync(string name, CancellationToken token = default)
    {
        var all = new List<KeyValuePair<string, byte[]>>();
        string? after = null;
        while (true)
        {
            var result = (await Submit(name, token, ObjectOp.OmapList(after, 1000)).ConfigureAwait(false)).Results[0];
            all.AddRange(result.Pairs);
            if (!result.More || result.Pairs.Count == 0)
                return all;
            after = result.Pairs[^1].Key;
        }
    }

    /// <summary>Every object of the pool: each PG's primary is asked in turn, page by page (the PGs of the newest map:
    /// pg_num may have grown since this context was opened).</summary>
    public async IAsyncEnumerable<string> ListObjectsAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken token = default)
    {
        uint pgNum = (client.Map.FindPool(Pool.Id) ?? Pool).PgNum;
        for (uint seed = 0; seed < pgNum; seed++)
        {
            var pg = new PgId(Pool.Id, seed);
            string? after = null;
            while (true)
            {
                var reply = await client.SubmitAsync(Pool.Id, "", [ObjectOp.List(after, 1000)], SnapContext.Empty, null, token, pg).ConfigureAwait(false);
                var result = reply.Results[0];
                foreach (var name in result.Names)
                    yield return name;
                if (!result.More || result.Names.Count == 0)
                    break;
                after = result.Names[^1];
            }
        }
    }
}
