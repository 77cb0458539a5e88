using Rampart.Rados.Client;
using Rampart.Rbd.Images;

namespace Rampart.Rbd.Diff;

/// <summary>Whole-image and incremental copies between images and streams (rbd export/import/export-diff/import-diff).</summary>
public static class ImageTransfer
{
    /// <summary>Bytes compared for zeros at a time: runs of zeros this size are skipped (thin import, sparse export).</summary>
    private const int ZeroBlock = 4096;
    private const int Parallelism = 8;

    /// <summary>Writes the whole image (or snapshot) to <paramref name="output"/>; zero blocks become holes when it can seek.</summary>
    public static async Task ExportAsync(Image image, Stream output, IProgress<double>? progress = null, CancellationToken cancellationToken = default)
    {
        long size = image.Size, step = image.Header.ObjectSize;
        await ForEachBlockAsync(size, step, (offset, length, token) => ReadBlockAsync(image, offset, length, token), async (offset, block, token) =>
        {
            if (output.CanSeek && !block.AsSpan().ContainsAnyExcept((byte)0))
                output.Seek(block.Length, SeekOrigin.Current);
            else
                await output.WriteAsync(block, token).ConfigureAwait(false);
            progress?.Report(size == 0 ? 1 : (double)(offset + block.Length) / size);
        }, cancellationToken).ConfigureAwait(false);
        if (output.CanSeek)
            output.SetLength(output.Position);
        await output.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    private static async Task<byte[]> ReadBlockAsync(Image image, long offset, long length, CancellationToken cancellationToken)
    {
        var block = new byte[length];
        await image.ReadAsync(offset, block, cancellationToken).ConfigureAwait(false);
        return block;
    }

    /// <summary>
    /// Reads blocks in parallel (a few ahead) and hands them to <paramref name="consume"/> strictly in order.
    /// </summary>
    private static async Task ForEachBlockAsync(long size, long step, Func<long, long, CancellationToken, Task<byte[]>> read,
        Func<long, byte[], CancellationToken, Task> consume, CancellationToken cancellationToken)
    {
        var pending = new Queue<(long Offset, Task<byte[]> Block)>();
        long next = 0;
        while (next < size || pending.Count > 0)
        {
            while (next < size && pending.Count < Parallelism)
            {
                long length = Math.Min(step, size - next);
                pending.Enqueue((next, read(next, length, cancellationToken)));
                next += length;
            }
            var (offset, task) = pending.Dequeue();
            await consume(offset, await task.ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Creates image <paramref name="name"/> in <paramref name="pool"/> from <paramref name="input"/>; all-zero blocks are
    /// not written, so the image stays thin. A stream of unknown length (stdin) grows the image as it goes.
    /// </summary>
    public static async Task ImportAsync(Stream input, RbdPool pool, string name, int order = ImageHeader.DefaultOrder, IProgress<double>? progress = null,
        CancellationToken cancellationToken = default)
    {
        long? total = input.CanSeek ? input.Length - input.Position : null;
        await pool.CreateAsync(name, total ?? 0, order, cancellationToken: cancellationToken).ConfigureAwait(false);
        await using var image = await Image.OpenAsync(pool.Client, new ImageSpec(pool.Name, name), cancellationToken).ConfigureAwait(false);
        long objectSize = image.Header.ObjectSize, offset = 0;
        var writes = new List<Task>();
        while (true)
        {
            var block = new byte[objectSize];
            int got = await input.ReadAtLeastAsync(block, block.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
            if (got == 0) break;
            if (total is null)
                await image.ResizeAsync(offset + got, false, cancellationToken).ConfigureAwait(false);
            for (int at = 0; at < got; at += ZeroBlock)
            {
                int length = Math.Min(ZeroBlock, got - at);
                if (!block.AsSpan(at, length).ContainsAnyExcept((byte)0)) continue;
                int runEnd = at + length;
                while (runEnd < got && block.AsSpan(runEnd, Math.Min(ZeroBlock, got - runEnd)).ContainsAnyExcept((byte)0))
                    runEnd += Math.Min(ZeroBlock, got - runEnd);
                writes.Add(image.WriteAsync(offset + at, block.AsMemory(at, runEnd - at), false, cancellationToken).AsTask());
                at = runEnd - ZeroBlock;
            }
            offset += got;
            if (writes.Count >= Parallelism * 4)
            {
                await Task.WhenAll(writes).ConfigureAwait(false);
                writes.Clear();
            }
            if (total is > 0) progress?.Report((double)offset / total.Value);
            if (got < block.Length) break;
        }
        await Task.WhenAll(writes).ConfigureAwait(false);
        progress?.Report(1);
    }

    /// <summary>
    /// Writes what changed in <paramref name="image"/> (head, or the snapshot it was opened at) since snapshot
    /// <paramref name="fromSnap"/> — or everything it holds, when null — as an rbd diff v1 stream. The OSDs name the
    /// changed chunks of each object, so the cost follows the change, not the image size.
    /// </summary>
    public static async Task ExportDiffAsync(Image image, string? fromSnap, Stream output, IProgress<double>? progress = null, CancellationToken cancellationToken = default)
    {
        ulong from = 0;
        long fromSize = 0;
        if (fromSnap is not null)
        {
            var snap = image.Header.FindSnap(fromSnap) ?? throw new RbdException("ENOENT", $"image {image.Spec.WithoutSnap()} has no snapshot '{fromSnap}'");
            if (image.Snap is { } to && snap.Id >= to.Id)
                throw new RbdException("EINVAL", $"snapshot '{fromSnap}' is not older than '{to.Name}'");
            (from, fromSize) = (snap.Id, snap.Size);
        }
        await DiffFormat.WriteHeaderAsync(output, cancellationToken).ConfigureAwait(false);
        if (fromSnap is not null)
            await DiffFormat.WriteAsync(output, new DiffRecord.FromSnap(fromSnap), cancellationToken).ConfigureAwait(false);
        if (image.Snap is { } toSnap)
            await DiffFormat.WriteAsync(output, new DiffRecord.ToSnap(toSnap.Name), cancellationToken).ConfigureAwait(false);
        await DiffFormat.WriteAsync(output, new DiffRecord.Size(image.Size), cancellationToken).ConfigureAwait(false);

        long objectSize = image.Header.ObjectSize, size = image.Size;
        long count = Extents.ObjectCount(Math.Max(size, fromSize), image.Header.Order);
        await ForEachBlockAsync(count, 1, async (objectNo, _, token) =>
        {
            // The records of one object, serialized into one buffer so objects can be worked on in parallel.
            using var records = new MemoryStream();
            long objectStart = objectNo * objectSize;
            var changed = await image.ChangedExtentsAsync(objectNo, from, token).ConfigureAwait(false);
            foreach (var (offset, length) in changed)
            {
                long start = objectStart + offset, end = Math.Min(objectStart + offset + length, size);
                if (end <= start) continue;
                var bytes = new byte[end - start];
                await image.ReadAsync(start, bytes, token).ConfigureAwait(false);
                DiffRecord record = bytes.AsSpan().ContainsAnyExcept((byte)0) ? new DiffRecord.Data(start, bytes) : new DiffRecord.Zero(start, bytes.Length);
                if (fromSnap is null && record is DiffRecord.Zero) continue; // a full diff lands on an empty image
                await DiffFormat.WriteAsync(records, record, token).ConfigureAwait(false);
            }
            return records.ToArray();
        }, async (objectNo, bytes, token) =>
        {
            await output.WriteAsync(bytes, token).ConfigureAwait(false);
            progress?.Report((double)(objectNo + 1) / count);
        }, cancellationToken).ConfigureAwait(false);
        await DiffFormat.WriteAsync(output, new DiffRecord.End(), cancellationToken).ConfigureAwait(false);
        await output.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Applies a diff stream to <paramref name="image"/>: the whole stream is checked first (a foreign, damaged or
    /// truncated diff changes nothing), then that it applies here — its start snapshot must exist in the image and
    /// the image must still have that snapshot's size; its end snapshot must not exist yet. Then the data is written,
    /// the image resized, and the end snapshot taken, so chains of diffs can follow.
    /// </summary>
    public static async Task ImportDiffAsync(Stream input, Image image, IProgress<double>? progress = null, CancellationToken cancellationToken = default)
    {
        // Checked in full before anything is written: a stream that can only be read once is spooled to a temporary file.
        Stream source = input;
        string? spool = null;
        if (!input.CanSeek)
        {
            spool = Path.GetTempFileName();
            source = new FileStream(spool, FileMode.Create, FileAccess.ReadWrite, FileShare.None, 1 << 16, FileOptions.DeleteOnClose);
            await input.CopyToAsync(source, cancellationToken).ConfigureAwait(false);
            source.Position = 0;
        }
        try
        {
            long start = source.Position;
            string? fromSnap = null, toSnap = null;
            long? newSize = null;
            await foreach (var record in DiffFormat.ReadAsync(source, cancellationToken).ConfigureAwait(false))
            {
                switch (record)
                {
                    case DiffRecord.FromSnap f: fromSnap = f.Name; break;
                    case DiffRecord.ToSnap t: toSnap = t.Name; break;
                    case DiffRecord.Size s: newSize = s.Bytes; break;
                    case DiffRecord.Data d when newSize is { } limit && d.Offset + d.Bytes.Length > limit:
                        throw new FormatException($"Error EINVAL: diff extent {d.Offset}+{d.Bytes.Length} lies past the image size it declares ({limit})");
                    case DiffRecord.Zero z when newSize is { } limit && z.Offset + z.Length > limit:
                        throw new FormatException($"Error EINVAL: diff extent {z.Offset}+{z.Length} lies past the image size it declares ({limit})");
                }
            }
            if (newSize is null)
                throw new FormatException("Error EINVAL: the diff has no image size record");

            await image.RefreshAsync(cancellationToken).ConfigureAwait(false);
            if (fromSnap is not null)
            {
                var snap = image.Header.FindSnap(fromSnap) ?? throw new RbdException("ENOENT", $"start snapshot '{fromSnap}' of the diff does not exist in {image.Spec}: the diff does not apply to this image");
                if (snap.Size != image.Size)
                    throw new RbdException("EINVAL", $"{image.Spec} is {image.Size} bytes but was {snap.Size} at snapshot '{fromSnap}': the diff does not apply to this image");
            }
            if (toSnap is not null && image.Header.FindSnap(toSnap) is not null)
                throw new RbdException("EEXIST", $"end snapshot '{toSnap}' of the diff already exists in {image.Spec}: it was applied before");

            source.Position = start;
            if (newSize > image.Size)
                await image.ResizeAsync(newSize.Value, false, cancellationToken).ConfigureAwait(false);
            long total = source.Length - start;
            var writes = new List<Task>();
            await foreach (var record in DiffFormat.ReadAsync(source, cancellationToken).ConfigureAwait(false))
            {
                Task? write = record switch
                {
                    DiffRecord.Data d => image.WriteAsync(d.Offset, d.Bytes, false, cancellationToken).AsTask(),
                    DiffRecord.Zero z => image.WriteZeroesAsync(z.Offset, z.Length, false, cancellationToken).AsTask(),
                    _ => null,
                };
                if (write is null) continue;
                writes.Add(write);
                if (writes.Count >= Parallelism * 4)
                {
                    await Task.WhenAll(writes).ConfigureAwait(false);
                    writes.Clear();
                    progress?.Report((double)(source.Position - start) / total);
                }
            }
            await Task.WhenAll(writes).ConfigureAwait(false);
            if (newSize < image.Size)
                await image.ResizeAsync(newSize.Value, true, cancellationToken).ConfigureAwait(false);
            if (toSnap is not null)
                await image.CreateSnapAsync(toSnap, cancellationToken).ConfigureAwait(false);
            progress?.Report(1);
        }
        finally
        {
            if (spool is not null)
                await source.DisposeAsync().ConfigureAwait(false);
        }
    }
}
