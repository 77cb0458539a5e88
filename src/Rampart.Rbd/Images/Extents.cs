namespace Rampart.Rbd.Images;

/// <summary>A piece of an image I/O that falls in one data object.</summary>
public readonly record struct ObjectExtent(long ObjectNo, long Offset, int Length, long BufferOffset);

/// <summary>Maps image byte ranges to data objects (no striping: object n holds bytes [n·size, (n+1)·size)).</summary>
public static class Extents
{
    public static IEnumerable<ObjectExtent> Map(long offset, long length, int order)
    {
        long objectSize = 1L << order;
        long pos = offset, end = offset + length;
        while (pos < end)
        {
            long objectNo = pos >> order;
            long inObject = pos & (objectSize - 1);
            int take = (int)Math.Min(objectSize - inObject, end - pos);
            yield return new ObjectExtent(objectNo, inObject, take, pos - offset);
            pos += take;
        }
    }

    /// <summary>Objects needed to hold <paramref name="size"/> bytes.</summary>
    public static long ObjectCount(long size, int order) => (size + (1L << order) - 1) >> order;
}
