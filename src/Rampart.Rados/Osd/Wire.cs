using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Rampart.Rados.Osd;

/// <summary>Big-endian, length-prefixed encoding for the OSD protocol's messages.</summary>
internal sealed class WireWriter
{
    private readonly ArrayBufferWriter<byte> _buffer;

    public WireWriter(int capacity = 256) => _buffer = new ArrayBufferWriter<byte>(capacity);

    public WireWriter U8(byte value)
    {
        _buffer.GetSpan(1)[0] = value;
        _buffer.Advance(1);
        return this;
    }

    public WireWriter Bool(bool value) => U8(value ? (byte)1 : (byte)0);

    public WireWriter I32(int value)
    {
        BinaryPrimitives.WriteInt32BigEndian(_buffer.GetSpan(4), value);
        _buffer.Advance(4);
        return this;
    }

    public WireWriter U32(uint value) => I32(unchecked((int)value));

    public WireWriter I64(long value)
    {
        BinaryPrimitives.WriteInt64BigEndian(_buffer.GetSpan(8), value);
        _buffer.Advance(8);
        return this;
    }

    public WireWriter U64(ulong value) => I64(unchecked((long)value));

    public WireWriter Bytes(ReadOnlySpan<byte> value)
    {
        I32(value.Length);
        _buffer.Write(value);
        return this;
    }

    public WireWriter String(string value)
    {
        int max = Encoding.UTF8.GetMaxByteCount(value.Length);
        var span = _buffer.GetSpan(4 + max);
        int n = Encoding.UTF8.GetBytes(value, span[4..]);
        BinaryPrimitives.WriteInt32BigEndian(span, n);
        _buffer.Advance(4 + n);
        return this;
    }

    public WireWriter NullableString(string? value) => value is null ? Bool(false) : Bool(true).String(value);

    public WireWriter List<T>(IReadOnlyCollection<T> items, Action<WireWriter, T> write)
    {
        I32(items.Count);
        foreach (var item in items) write(this, item);
        return this;
    }

    public byte[] ToArray() => _buffer.WrittenSpan.ToArray();
}

/// <summary>Reads what <see cref="WireWriter"/> wrote; anything short or out of range is a <see cref="FormatException"/>.</summary>
internal ref struct WireReader(ReadOnlySpan<byte> data, string what)
{
    private readonly ReadOnlySpan<byte> _data = data;
    private readonly string _what = what;
    private int _at;

    public readonly bool AtEnd => _at == _data.Length;

    private ReadOnlySpan<byte> Take(int n)
    {
        if (n < 0 || _data.Length - _at < n)
            throw new FormatException($"Error EINVAL: malformed {_what}: truncated at byte {_at}");
        var span = _data.Slice(_at, n);
        _at += n;
        return span;
    }

    public byte U8() => Take(1)[0];

    public bool Bool() => U8() switch { 0 => false, 1 => true, var b => throw new FormatException($"Error EINVAL: malformed {_what}: bad flag {b}") };

    public int I32() => BinaryPrimitives.ReadInt32BigEndian(Take(4));

    public uint U32() => BinaryPrimitives.ReadUInt32BigEndian(Take(4));

    public long I64() => BinaryPrimitives.ReadInt64BigEndian(Take(8));

    public ulong U64() => BinaryPrimitives.ReadUInt64BigEndian(Take(8));

    public byte[] Bytes() => Take(I32()).ToArray();

    /// <summary>A time as UTC ticks, refused when outside what DateTimeOffset can hold.</summary>
    public long Ticks()
    {
        long ticks = I64();
        return ticks >= 0 && ticks <= DateTimeOffset.MaxValue.UtcTicks ? ticks
            : throw new FormatException($"Error EINVAL: malformed {_what}: time {ticks} out of range");
    }

    public string String() => Encoding.UTF8.GetString(Take(I32()));

    public string? NullableString() => Bool() ? String() : null;

    /// <summary>A count that cannot exceed the bytes left (each item takes at least one byte), so garbage cannot allocate gigabytes.</summary>
    public int Count()
    {
        int n = I32();
        if (n < 0 || n > _data.Length - _at)
            throw new FormatException($"Error EINVAL: malformed {_what}: count {n} at byte {_at - 4}");
        return n;
    }

    public readonly void End()
    {
        if (!AtEnd)
            throw new FormatException($"Error EINVAL: malformed {_what}: {_data.Length - _at} trailing bytes");
    }
}
