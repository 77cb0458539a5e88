using System.Buffers.Binary;
using System.Text;

namespace Rampart.Rbd.Diff;

/// <summary>One record of a diff stream.</summary>
public abstract record DiffRecord
{
    public sealed record FromSnap(string Name) : DiffRecord;
    public sealed record ToSnap(string Name) : DiffRecord;
    public sealed record Size(long Bytes) : DiffRecord;
    public sealed record Data(long Offset, byte[] Bytes) : DiffRecord;
    public sealed record Zero(long Offset, long Length) : DiffRecord;
    public sealed record End : DiffRecord;
}

/// <summary>
/// The diff stream of export-diff / import-diff: Ceph's "rbd diff v1" format, so diffs move between
/// the two systems. All integers little-endian:
/// <code>
///   "rbd diff v1\n"
///   'f' u32 len, name      snapshot the diff starts from (absent: from nothing)
///   't' u32 len, name      snapshot the diff leads to (absent: head)
///   's' u64                image size at the end
///   'w' u64 offset, u64 length, data    changed bytes
///   'z' u64 offset, u64 length          bytes that became zeros
///   'e'                    end
/// </code>
/// Metadata records (f, t, s) come before data records.
/// </summary>
public static class DiffFormat
{
    public static readonly byte[] Header = "rbd diff v1\n"u8.ToArray();
    /// <summary>Largest data record a reader accepts (a writer never makes one larger than an object).</summary>
    public const long MaxData = 64L << 20;
    private const int MaxName = 4096;

    public static async Task WriteHeaderAsync(Stream stream, CancellationToken cancellationToken) =>
        await stream.WriteAsync(Header, cancellationToken).ConfigureAwait(false);

    public static async Task WriteAsync(Stream stream, DiffRecord record, CancellationToken cancellationToken)
    {
        switch (record)
        {
            case DiffRecord.FromSnap f: await WriteNameAsync(stream, (byte)'f', f.Name, cancellationToken).ConfigureAwait(false); break;
            case DiffRecord.ToSnap t: await WriteNameAsync(stream, (byte)'t', t.Name, cancellationToken).ConfigureAwait(false); break;
            case DiffRecord.Size s: await stream.WriteAsync(Fixed((byte)'s', s.Bytes), cancellationToken).ConfigureAwait(false); break;
            case DiffRecord.Data d:
                await stream.WriteAsync(Fixed((byte)'w', d.Offset, d.Bytes.Length), cancellationToken).ConfigureAwait(false);
                await stream.WriteAsync(d.Bytes, cancellationToken).ConfigureAwait(false);
                break;
            case DiffRecord.Zero z: await stream.WriteAsync(Fixed((byte)'z', z.Offset, z.Length), cancellationToken).ConfigureAwait(false); break;
            case DiffRecord.End: await stream.WriteAsync(new[] { (byte)'e' }, cancellationToken).ConfigureAwait(false); break;
        }
    }

    private static byte[] Fixed(byte tag, params long[] values)
    {
        var b = new byte[1 + 8 * values.Length];
        b[0] = tag;
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(1 + 8 * i), values[i]);
        return b;
    }

    private static async Task WriteNameAsync(Stream stream, byte tag, string name, CancellationToken cancellationToken)
    {
        var bytes = Encoding.UTF8.GetBytes(name);
        var b = new byte[5 + bytes.Length];
        b[0] = tag;
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(1), (uint)bytes.Length);
        bytes.CopyTo(b, 5);
        await stream.WriteAsync(b, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Reads a diff stream record by record, ending with <see cref="DiffRecord.End"/>. Anything else — a foreign header,
    /// an unknown tag, metadata after data, a negative or oversized length, a stream that stops early — is a
    /// FormatException that says what and where.
    /// </summary>
    public static async IAsyncEnumerable<DiffRecord> ReadAsync(Stream stream, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        long position = 0;
        async Task<byte[]> Take(int n, string what)
        {
            var buffer = new byte[n];
            int got = await stream.ReadAtLeastAsync(buffer, n, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
            if (got < n)
                throw new FormatException($"Error EINVAL: the diff is truncated: {what} at byte {position} is cut short");
            position += n;
            return buffer;
        }

        var header = await Take(Header.Length, "the header").ConfigureAwait(false);
        if (!header.AsSpan().SequenceEqual(Header))
            throw new FormatException("Error EINVAL: not an rbd diff (the stream does not start with \"rbd diff v1\")");
        bool data = false;
        while (true)
        {
            long at = position;
            byte tag = (await Take(1, "a record tag").ConfigureAwait(false))[0];
            switch ((char)tag)
            {
                case 'f' or 't':
                    {
                        if (data) throw new FormatException($"Error EINVAL: diff record '{(char)tag}' at byte {at} comes after data records");
                        uint length = BinaryPrimitives.ReadUInt32LittleEndian(await Take(4, "a snapshot name length").ConfigureAwait(false));
                        if (length is 0 or > MaxName) throw new FormatException($"Error EINVAL: bad snapshot name length {length} at byte {at}");
                        string name = Encoding.UTF8.GetString(await Take((int)length, "a snapshot name").ConfigureAwait(false));
                        yield return tag == 'f' ? new DiffRecord.FromSnap(name) : new DiffRecord.ToSnap(name);
                        break;
                    }
                case 's':
                    {
                        if (data) throw new FormatException($"Error EINVAL: diff record 's' at byte {at} comes after data records");
                        long size = BinaryPrimitives.ReadInt64LittleEndian(await Take(8, "the image size").ConfigureAwait(false));
                        if (size < 0) throw new FormatException($"Error EINVAL: negative image size at byte {at}");
                        yield return new DiffRecord.Size(size);
                        break;
                    }
                case 'w' or 'z':
                    {
                        data = true;
                        var fields = await Take(16, "an extent").ConfigureAwait(false);
                        long offset = BinaryPrimitives.ReadInt64LittleEndian(fields), length = BinaryPrimitives.ReadInt64LittleEndian(fields.AsSpan(8));
                        if (offset < 0 || length < 0 || offset > long.MaxValue - length || (tag == 'w' && length > MaxData))
                            throw new FormatException($"Error EINVAL: bad extent {offset}+{length} at byte {at}");
                        if (tag == 'z')
                            yield return new DiffRecord.Zero(offset, length);
                        else
                            yield return new DiffRecord.Data(offset, await Take((int)length, "extent data").ConfigureAwait(false));
                        break;
                    }
                case 'e':
                    yield return new DiffRecord.End();
                    yield break;
                default:
                    throw new FormatException($"Error EINVAL: unknown diff record tag 0x{tag:x2} at byte {at}");
            }
        }
    }
}
