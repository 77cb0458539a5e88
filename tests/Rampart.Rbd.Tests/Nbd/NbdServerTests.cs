using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Reflection;
using Microsoft.Extensions.Logging;
using Rampart.Rbd.Nbd;
using Rampart.Testing;

namespace Rampart.Rbd.Tests.Nbd;

/// <summary>The server over a real loopback socket, driven by a raw client, against in-memory devices.</summary>
public sealed class NbdServerTests : IAsyncLifetime
{
    private const long Size = 4 << 20;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    private readonly MemoryExportCatalog _catalog = new();
    private readonly MemoryBlockDevice _disk;
    private readonly MemoryBlockDevice _snapshot;
    private NbdServerHost _host = null!;

    public NbdServerTests()
    {
        _disk = _catalog.Add("rbd/disk", new MemoryBlockDevice(Size));
        _snapshot = _catalog.Add("rbd/disk@snap", new MemoryBlockDevice(1 << 20, readOnly: true));
    }

    public Task InitializeAsync()
    {
        _host = new NbdServerHost(_catalog);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private static byte[] Pattern(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>The connection still serves requests: a fresh read of the first sector succeeds.</summary>
    private static async Task AssertUsableAsync(NbdTestClient client) => Assert.Equal(512, (await client.ReadAsync(0, 512)).Length);

    private Task WaitForNoOpenHandlesAsync() =>
        Wait.UntilAsync(() => Task.FromResult(_catalog.OpenHandles == 0), Deadline, () => $"every device handle disposed ({_catalog.OpenHandles} open)");

    // ---- handshake ----

    [Fact]
    public async Task List_ShowsEveryExportThenAck()
    {
        await using var client = await NbdTestClient.ConnectAsync(_host.EndPoint);
        await client.SendOptionAsync(NbdOption.List);
        var replies = await client.ReadOptionRepliesAsync();

        Assert.Equal([NbdReplyType.Server, NbdReplyType.Server, NbdReplyType.Ack], replies.Select(r => r.Header.Type));
        Assert.All(replies, r => Assert.Equal(NbdOption.List, r.Header.Option));
        Assert.Equal(["rbd/disk", "rbd/disk@snap"], replies.Take(2).Select(r => NbdTestClient.Text(r.Data[4..])));
        Assert.Equal(8u, BinaryPrimitives.ReadUInt32BigEndian(replies[0].Data));
    }

    [Fact]
    public async Task List_WithData_IsErrInvalidAndNegotiationContinues()
    {
        await using var client = await NbdTestClient.ConnectAsync(_host.EndPoint);
        await client.SendOptionAsync(NbdOption.List, [1, 2]);
        Assert.Equal(NbdReplyType.ErrInvalid, (await client.ReadOptionReplyAsync()).Header.Type);
        var (size, _) = await client.GoAsync("rbd/disk");
        Assert.Equal((ulong)Size, size);
    }

    [Fact]
    public async Task Go_UnknownExport_IsErrUnknownWithAMessageAndNegotiationContinues()
    {
        await using var client = await NbdTestClient.ConnectAsync(_host.EndPoint);
        await client.SendOptionAsync(NbdOption.Go, NbdTestClient.InfoRequest("rbd/missing"));
        var (header, data) = await client.ReadOptionReplyAsync();
        Assert.Equal(NbdReplyType.ErrUnknown, header.Type);
        Assert.Equal("unknown export 'rbd/missing'", NbdTestClient.Text(data));
        Assert.Equal(0, _catalog.OpenHandles);

        var (size, _) = await client.GoAsync("rbd/disk");
        Assert.Equal((ulong)Size, size);
        await AssertUsableAsync(client);
    }

    [Fact]
    public async Task Info_ReportsSizeFlagsBlockSizesAndName_ThenGoEntersTransmission()
    {
        await using var client = await NbdTestClient.ConnectAsync(_host.EndPoint);
        await client.SendOptionAsync(NbdOption.Info, NbdTestClient.InfoRequest("rbd/disk@snap", NbdInfoType.Name, NbdInfoType.BlockSize));
        var replies = await client.ReadOptionRepliesAsync();

        Assert.Equal(NbdReplyType.Ack, replies[^1].Header.Type);
        var infos = replies.Where(r => r.Header.Type == NbdReplyType.Info).ToDictionary(r => (NbdInfoType)BinaryPrimitives.ReadUInt16BigEndian(r.Data), r => r.Data[2..]);
        Assert.Equal(1ul << 20, BinaryPrimitives.ReadUInt64BigEndian(infos[NbdInfoType.Export]));
        var flags = (NbdTransmissionFlags)BinaryPrimitives.ReadUInt16BigEndian(infos[NbdInfoType.Export].AsSpan(8));
        Assert.Equal(NbdTransmissionFlags.HasFlags | NbdTransmissionFlags.ReadOnly | NbdTransmissionFlags.SendFlush | NbdTransmissionFlags.SendFua
            | NbdTransmissionFlags.SendTrim | NbdTransmissionFlags.SendWriteZeroes | NbdTransmissionFlags.CanMultiConn, flags);
        Assert.Equal([1u, 4096u, 32u << 20], Enumerable.Range(0, 3).Select(i => BinaryPrimitives.ReadUInt32BigEndian(infos[NbdInfoType.BlockSize].AsSpan(4 * i))));
        Assert.Equal("rbd/disk@snap", NbdTestClient.Text(infos[NbdInfoType.Name]));
        // INFO does not keep the device open.
        Assert.Equal(0, _catalog.OpenHandles);

        var (_, goFlags) = await client.GoAsync("rbd/disk");
        Assert.False(goFlags.HasFlag(NbdTransmissionFlags.ReadOnly));
        await AssertUsableAsync(client);
    }

    [Fact]
    public async Task Go_MalformedData_IsErrInvalid()
    {
        await using var client = await NbdTestClient.ConnectAsync(_host.EndPoint);
        await client.SendOptionAsync(NbdOption.Go, [0, 0, 0, 9, (byte)'x']);
        Assert.Equal(NbdReplyType.ErrInvalid, (await client.ReadOptionReplyAsync()).Header.Type);
        await client.GoAsync("rbd/disk");
    }

    [Theory]
    [InlineData(5u)]          // NBD_OPT_STARTTLS
    [InlineData(4u)]          // the withdrawn NBD_OPT_PEEK_EXPORT
    [InlineData(0xdeadbeefu)]
    public async Task UnknownOrRefusedOption_IsErrUnsupAndNegotiationContinues(uint number)
    {
        var option = (NbdOption)number;
        await using var client = await NbdTestClient.ConnectAsync(_host.EndPoint);
        await client.SendOptionAsync(option, [1, 2, 3]);
        var (header, _) = await client.ReadOptionReplyAsync();
        Assert.Equal(option, header.Option);
        Assert.Equal(NbdReplyType.ErrUnsup, header.Type);
        await client.GoAsync("rbd/disk");
    }

    [Fact]
    public async Task StructuredReplies_ReadsComeAsOffsetDataChunks_AndBlockStatusMapsDataAndHoles()
    {
        _disk.Fill(Pattern(10_000, 3), 100_000);
        _disk.Fill(Pattern(4096, 4), 1 << 20);
        await using var client = await NbdTestClient.ConnectAsync(_host.EndPoint);

        // Before structured replies: SET is refused, LIST answers anyway; data on STRUCTURED_REPLY is invalid.
        await client.SendOptionAsync(NbdOption.SetMetaContext, MetaContextRequest("rbd/disk", "base:allocation"));
        Assert.Equal(NbdReplyType.ErrInvalid, (await client.ReadOptionReplyAsync()).Header.Type);
        await client.SendOptionAsync(NbdOption.ListMetaContext, MetaContextRequest("rbd/disk"));
        var listed = await client.ReadOptionRepliesAsync();
        Assert.Equal([NbdReplyType.MetaContext, NbdReplyType.Ack], listed.Select(r => r.Header.Type));
        Assert.Equal("base:allocation", NbdTestClient.Text(listed[0].Data[4..]));
        await client.SendOptionAsync(NbdOption.StructuredReply, [1]);
        Assert.Equal(NbdReplyType.ErrInvalid, (await client.ReadOptionReplyAsync()).Header.Type);

        await client.SendOptionAsync(NbdOption.StructuredReply);
        Assert.Equal(NbdReplyType.Ack, (await client.ReadOptionReplyAsync()).Header.Type);
        await client.SendOptionAsync(NbdOption.SetMetaContext, MetaContextRequest("rbd/disk", "qemu:dirty-bitmap:x", "base:allocation"));
        var set = await client.ReadOptionRepliesAsync();
        Assert.Equal([NbdReplyType.MetaContext, NbdReplyType.Ack], set.Select(r => r.Header.Type));
        uint contextId = BinaryPrimitives.ReadUInt32BigEndian(set[0].Data);
        await client.GoAsync("rbd/disk");

        await client.SendRequestAsync(NbdCommand.Read, 7, 100_000, 10_000);
        var (read, data) = await ReadChunkAsync(client);
        Assert.Equal(new NbdChunkHeader(true, NbdChunkType.OffsetData, 7, 8 + 10_000), read);
        Assert.Equal(100_000UL, BinaryPrimitives.ReadUInt64BigEndian(data));
        Assert.Equal(Pattern(10_000, 3), data[8..]);

        await client.SendRequestAsync(NbdCommand.BlockStatus, 8, 0, 2 << 20);
        var (status, payload) = await ReadChunkAsync(client);
        Assert.Equal((true, NbdChunkType.BlockStatus, 8UL), (status.Done, status.Type, status.Handle));
        Assert.Equal(contextId, BinaryPrimitives.ReadUInt32BigEndian(payload));
        var extents = Enumerable.Range(0, (payload.Length - 4) / 8)
            .Select(i => (BinaryPrimitives.ReadUInt32BigEndian(payload.AsSpan(4 + 8 * i)), BinaryPrimitives.ReadUInt32BigEndian(payload.AsSpan(8 + 8 * i))))
            .ToArray();
        // Pages 98304..110592 hold the pattern, then a hole up to 1 MiB, one page of data, the rest a hole.
        Assert.Equal([(98_304u, 3u), (12_288u, 0u), ((1u << 20) - 110_592, 3u), (4096u, 0u), ((1u << 20) - 4096, 3u)], extents);

        await client.SendRequestAsync(NbdCommand.BlockStatus, 9, 1 << 20, 1 << 20, NbdCommandFlags.ReqOne);
        var (_, one) = await ReadChunkAsync(client);
        Assert.Equal(12, one.Length);
        Assert.Equal((4096u, 0u), (BinaryPrimitives.ReadUInt32BigEndian(one.AsSpan(4)), BinaryPrimitives.ReadUInt32BigEndian(one.AsSpan(8))));

        // Errors of READ come as error chunks; other commands keep simple replies.
        await client.SendRequestAsync(NbdCommand.Read, 10, Size, 512);
        var (error, errno) = await ReadChunkAsync(client);
        Assert.Equal((true, NbdChunkType.Error, 10UL), (error.Done, error.Type, error.Handle));
        Assert.Equal(NbdErrno.EINVAL, BinaryPrimitives.ReadUInt32BigEndian(errno));
        Assert.Equal(0u, await client.WriteAsync(0, Pattern(512, 5)));
    }

    [Fact]
    public async Task BlockStatus_WithoutAMetaContext_IsEinval()
    {
        var (client, _, _) = await NbdTestClient.OpenAsync(_host.EndPoint, "rbd/disk");
        await using (client)
        {
            Assert.Equal(NbdErrno.EINVAL, await client.CommandAsync(NbdCommand.BlockStatus, 0, 4096));
            await AssertUsableAsync(client);
        }
    }

    private static byte[] MetaContextRequest(string export, params string[] queries)
    {
        var bytes = new List<byte>();
        void U32(int v) { var b = new byte[4]; BinaryPrimitives.WriteInt32BigEndian(b, v); bytes.AddRange(b); }
        var name = System.Text.Encoding.UTF8.GetBytes(export);
        U32(name.Length);
        bytes.AddRange(name);
        U32(queries.Length);
        foreach (var q in queries.Select(q => System.Text.Encoding.UTF8.GetBytes(q)))
        {
            U32(q.Length);
            bytes.AddRange(q);
        }
        return [.. bytes];
    }

    private static async Task<(NbdChunkHeader Header, byte[] Payload)> ReadChunkAsync(NbdTestClient client)
    {
        Assert.Equal(NbdMalformed.None, NbdChunkHeader.TryParse(await client.ReadBytesAsync(NbdChunkHeader.Size), out var header));
        return (header, await client.ReadBytesAsync((int)header.Length));
    }

    [Fact]
    public async Task Abort_IsAckedThenClosed()
    {
        await using var client = await NbdTestClient.ConnectAsync(_host.EndPoint);
        await client.SendOptionAsync(NbdOption.Abort);
        Assert.Equal(NbdReplyType.Ack, (await client.ReadOptionReplyAsync()).Header.Type);
        Assert.True(await client.ServerClosedAsync());
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task ExportName_EntersTransmission_WithZeroesUnlessNoZeroes(bool noZeroes)
    {
        var flags = NbdClientFlags.FixedNewstyle | (noZeroes ? NbdClientFlags.NoZeroes : 0);
        await using var client = await NbdTestClient.ConnectAsync(_host.EndPoint, flags);
        await client.SendOptionAsync(NbdOption.ExportName, "rbd/disk"u8.ToArray());
        var reply = await client.ReadBytesAsync(noZeroes ? 10 : 134);
        Assert.Equal((ulong)Size, BinaryPrimitives.ReadUInt64BigEndian(reply));
        Assert.True(((NbdTransmissionFlags)BinaryPrimitives.ReadUInt16BigEndian(reply.AsSpan(8))).HasFlag(NbdTransmissionFlags.SendFlush));
        await AssertUsableAsync(client);
    }

    [Fact]
    public async Task ExportName_UnknownExport_ClosesTheConnection()
    {
        await using var client = await NbdTestClient.ConnectAsync(_host.EndPoint);
        await client.SendOptionAsync(NbdOption.ExportName, "nope"u8.ToArray());
        Assert.True(await client.ServerClosedAsync());
        Assert.Equal(0, _host.Server.Counters.Malformed);
    }

    [Fact]
    public async Task ClientFlagsNotOffered_CloseTheConnection()
    {
        await using var client = await NbdTestClient.ConnectAsync(_host.EndPoint, (NbdClientFlags)0x10);
        Assert.True(await client.ServerClosedAsync());
        await Wait.UntilAsync(() => _host.Server.Counters.Malformed == 1, Deadline, "malformed counted");
    }

    [Fact]
    public async Task HandshakeNotFinished_IsDroppedAfterTheTimeout()
    {
        await using var host = new NbdServerHost(_catalog, new NbdServerConfig { HandshakeTimeout = TimeSpan.FromMilliseconds(200) });
        await using var client = await NbdTestClient.ConnectAsync(host.EndPoint);
        Assert.True(await client.ServerClosedAsync());
    }

    // ---- transmission ----

    [Theory]
    [InlineData(0, 1)]
    [InlineData(4095, 3)]
    [InlineData(65536, 1 << 20)]
    [InlineData(0, 32 << 20)]
    public async Task Write_ThenRead_RoundTrips(long offset, int length)
    {
        var big = new MemoryBlockDevice(64 << 20);
        _catalog.Add("big", big);
        var (client, _, _) = await NbdTestClient.OpenAsync(_host.EndPoint, "big");
        await using (client)
        {
            var data = Pattern(length, length);
            Assert.Equal(0u, await client.WriteAsync((ulong)offset, data));
            Assert.Equal(data, await client.ReadAsync((ulong)offset, length));
            Assert.Equal(data, big.Snapshot().AsSpan((int)offset, length).ToArray());
        }
    }

    [Fact]
    public async Task FuaAndFlush_ReachTheDevice()
    {
        var (client, _, _) = await NbdTestClient.OpenAsync(_host.EndPoint, "rbd/disk");
        await using (client)
        {
            Assert.Equal(0u, await client.WriteAsync(0, Pattern(4096, 1)));
            Assert.Equal(0, _disk.FuaWrites);
            Assert.Equal(0u, await client.WriteAsync(4096, Pattern(4096, 2), NbdCommandFlags.Fua));
            Assert.Equal(1, _disk.FuaWrites);

            Assert.Equal(0u, await client.CommandAsync(NbdCommand.Flush, 0, 0));
            Assert.Equal(1, _disk.Flushes);

            Assert.Equal(0u, await client.CommandAsync(NbdCommand.WriteZeroes, 0, 4096, NbdCommandFlags.Fua | NbdCommandFlags.NoHole));
            Assert.Equal(1, _disk.FuaZeroes);
            Assert.Equal(new byte[4096], await client.ReadAsync(0, 4096));

            // A TRIM with FUA is made durable with a flush.
            Assert.Equal(0u, await client.CommandAsync(NbdCommand.Trim, 4096, 4096, NbdCommandFlags.Fua));
            Assert.Equal(1, _disk.Trims);
            Assert.Equal(2, _disk.Flushes);
            Assert.Equal(new byte[4096], await client.ReadAsync(4096, 4096));
        }
    }

    [Fact]
    public async Task BadRequests_GetTheirErrno_AndTheConnectionCarriesOn()
    {
        var (client, _, _) = await NbdTestClient.OpenAsync(_host.EndPoint, "rbd/disk");
        await using (client)
        {
            Assert.Equal(NbdErrno.EINVAL, await client.CommandAsync(NbdCommand.Read, Size - 512, 1024));
            await AssertUsableAsync(client);
            Assert.Equal(NbdErrno.ENOSPC, await client.WriteAsync(Size - 512, Pattern(1024, 3)));
            await AssertUsableAsync(client);
            Assert.Equal(NbdErrno.EINVAL, await client.CommandAsync(NbdCommand.Read, 0, 0));
            Assert.Equal(NbdErrno.EINVAL, await client.CommandAsync(NbdCommand.Write, 0, 0));
            await AssertUsableAsync(client);
            Assert.Equal(NbdErrno.EINVAL, await client.CommandAsync(NbdCommand.Read, 0, (32 << 20) + 1));
            await AssertUsableAsync(client);
            // An oversized but sane WRITE: its payload is consumed, so the next request is read in step.
            Assert.Equal(NbdErrno.EINVAL, await client.WriteAsync(0, new byte[(32 << 20) + 4096]));
            await AssertUsableAsync(client);
            Assert.Equal(NbdErrno.EINVAL, await client.CommandAsync((NbdCommand)42, 0, 512));
            await AssertUsableAsync(client);
            Assert.Equal(NbdErrno.EINVAL, await client.CommandAsync(NbdCommand.Read, 0, 512, (NbdCommandFlags)0x40));
            await AssertUsableAsync(client);
            Assert.Equal(0, _disk.Writes);
        }
        Assert.Equal(8, _host.Server.Counters.Errors);
    }

    [Fact]
    public async Task ReadOnlyExport_RefusesWritesWithEperm()
    {
        _snapshot.Fill(Pattern(4096, 9));
        var (client, _, flags) = await NbdTestClient.OpenAsync(_host.EndPoint, "rbd/disk@snap");
        await using (client)
        {
            Assert.True(flags.HasFlag(NbdTransmissionFlags.ReadOnly));
            Assert.Equal(NbdErrno.EPERM, await client.WriteAsync(0, new byte[4096]));
            Assert.Equal(NbdErrno.EPERM, await client.CommandAsync(NbdCommand.Trim, 0, 4096));
            Assert.Equal(NbdErrno.EPERM, await client.CommandAsync(NbdCommand.WriteZeroes, 0, 4096));
            Assert.Equal(Pattern(4096, 9), await client.ReadAsync(0, 4096));
            Assert.Equal(0u, await client.CommandAsync(NbdCommand.Flush, 0, 0));
        }
        Assert.Equal(0, _snapshot.Writes + _snapshot.Trims + _snapshot.Zeroes);
    }

    [Fact]
    public async Task DeviceFailures_AreAnsweredWithTheirErrno_OtherExceptionsWithEio()
    {
        _disk.Hook = (operation, offset, _) => offset switch
        {
            8192 => throw new BlockDeviceException(BlockDeviceException.ENOSPC, "pool full"),
            12288 => throw new BlockDeviceException(BlockDeviceException.EPERM, "snapshot protected"),
            16384 => throw new InvalidOperationException("bug"),
            20480 => throw new BlockDeviceException(2, "ENOENT is not an NBD error"),
            _ when operation == "flush" => throw new IOException("disk gone"),
            _ => ValueTask.CompletedTask,
        };
        var (client, _, _) = await NbdTestClient.OpenAsync(_host.EndPoint, "rbd/disk");
        await using (client)
        {
            Assert.Equal(NbdErrno.ENOSPC, await client.WriteAsync(8192, new byte[512]));
            Assert.Equal(NbdErrno.EPERM, await client.CommandAsync(NbdCommand.Trim, 12288, 512));
            Assert.Equal(NbdErrno.EIO, await client.CommandAsync(NbdCommand.Read, 16384, 512));   // no data follows an error
            Assert.Equal(NbdErrno.EIO, await client.CommandAsync(NbdCommand.WriteZeroes, 20480, 512));
            Assert.Equal(NbdErrno.EIO, await client.CommandAsync(NbdCommand.Flush, 0, 0));
            await AssertUsableAsync(client);
        }
    }

    [Fact]
    public async Task RequestsInFlight_AreAnsweredAsTheyComplete()
    {
        var slow = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _disk.Hook = (_, offset, token) => offset == 0 ? new ValueTask(slow.Task.WaitAsync(token)) : ValueTask.CompletedTask;
        var (client, _, _) = await NbdTestClient.OpenAsync(_host.EndPoint, "rbd/disk");
        await using (client)
        {
            await client.SendRequestAsync(NbdCommand.Read, 1, 0, 512);
            await client.SendRequestAsync(NbdCommand.Write, 2, 4096, 512, payload: Pattern(512, 2));
            await client.SendRequestAsync(NbdCommand.Read, 3, 8192, 512);
            // 2 and 3 pass the held read 1, in whichever order they complete.
            var passed = new List<ulong>();
            for (int i = 0; i < 2; i++)
            {
                var reply = await client.ReadReplyAsync();
                Assert.Equal(0u, reply.Error);
                if (reply.Handle == 3) await client.ReadBytesAsync(512);
                passed.Add(reply.Handle);
            }
            Assert.Equal(new ulong[] { 2, 3 }, passed.Order());
            slow.SetResult();
            Assert.Equal(new NbdSimpleReply(0, 1), await client.ReadReplyAsync());
            Assert.Equal(512, (await client.ReadBytesAsync(512)).Length);
            Assert.Equal(Pattern(512, 2), await client.ReadAsync(4096, 512));
        }
    }

    [Fact]
    public async Task InFlightRequests_AreBoundedPerConnection()
    {
        await using var host = new NbdServerHost(_catalog, new NbdServerConfig { MaxInFlightRequests = 2 });
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int started = 0;
        _disk.Hook = async (_, _, token) =>
        {
            Interlocked.Increment(ref started);
            await release.Task.WaitAsync(token);
        };
        var (client, _, _) = await NbdTestClient.OpenAsync(host.EndPoint, "rbd/disk");
        await using (client)
        {
            for (ulong handle = 1; handle <= 5; handle++) await client.SendRequestAsync(NbdCommand.Read, handle, 0, 512);
            await Wait.UntilAsync(() => Volatile.Read(ref started) == 2, Deadline, "two reads started");
            await Task.Delay(100); // nothing should change: give a third read the chance to (wrongly) start
            Assert.Equal(2, Volatile.Read(ref started));
            release.SetResult();
            var handles = new List<ulong>();
            for (int i = 0; i < 5; i++)
            {
                var reply = await client.ReadReplyAsync();
                Assert.Equal(0u, reply.Error);
                await client.ReadBytesAsync(512);
                handles.Add(reply.Handle);
            }
            Assert.Equal(new ulong[] { 1, 2, 3, 4, 5 }, handles.Order());
        }
    }

    [Fact]
    public async Task InFlightBytes_AreBoundedPerConnection()
    {
        await using var host = new NbdServerHost(_catalog, new NbdServerConfig { MaxInFlightBytes = 1 << 20 });
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int started = 0;
        _disk.Hook = async (_, _, token) =>
        {
            Interlocked.Increment(ref started);
            await release.Task.WaitAsync(token);
        };
        var (client, _, _) = await NbdTestClient.OpenAsync(host.EndPoint, "rbd/disk");
        await using (client)
        {
            // 768 KiB each: the first fits the 1 MiB budget alone, the second must wait for it.
            for (ulong handle = 1; handle <= 3; handle++) await client.SendRequestAsync(NbdCommand.Read, handle, 0, 768 << 10);
            await Wait.UntilAsync(() => Volatile.Read(ref started) == 1, Deadline, "one read started");
            await Task.Delay(100);
            Assert.Equal(1, Volatile.Read(ref started));
            release.SetResult();
            for (int i = 0; i < 3; i++)
            {
                Assert.Equal(0u, (await client.ReadReplyAsync()).Error);
                await client.ReadBytesAsync(768 << 10);
            }
        }
    }

    [Fact]
    public async Task Disc_FinishesRequestsInFlightThenCloses()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _disk.Hook = (_, _, token) => new ValueTask(release.Task.WaitAsync(token));
        var (client, _, _) = await NbdTestClient.OpenAsync(_host.EndPoint, "rbd/disk");
        await using (client)
        {
            var data = Pattern(4096, 5);
            await client.SendRequestAsync(NbdCommand.Write, 1, 0, 4096, NbdCommandFlags.Fua, data);
            await client.SendRequestAsync(NbdCommand.Disc, 2, 0, 0);
            await Wait.UntilAsync(() => Task.FromResult(_host.Server.Counters.Requests == 2), Deadline, "DISC read while the write is held");
            release.SetResult();
            Assert.Equal(new NbdSimpleReply(0, 1), await client.ReadReplyAsync());
            Assert.True(await client.ServerClosedAsync());
            Assert.Equal(data, _disk.Snapshot()[..4096]);
        }
        await WaitForNoOpenHandlesAsync();
    }

    [Fact]
    public async Task ClientVanishingMidRequest_CancelsTheDeviceCallAndReleasesEverything()
    {
        var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _disk.Hook = async (_, offset, token) =>
        {
            if (offset != 0) return;
            try { await Task.Delay(Timeout.Infinite, token); }
            finally { cancelled.TrySetResult(); }
        };
        var (client, _, _) = await NbdTestClient.OpenAsync(_host.EndPoint, "rbd/disk");
        await client.SendRequestAsync(NbdCommand.Read, 1, 0, 1 << 20);
        await client.DisposeAsync();
        await cancelled.Task.WaitAsync(Deadline);
        await WaitForNoOpenHandlesAsync();

        // Half a WRITE payload, then gone.
        var (second, _, _) = await NbdTestClient.OpenAsync(_host.EndPoint, "rbd/disk");
        var header = new byte[NbdRequest.Size];
        new NbdRequest(NbdCommandFlags.None, NbdCommand.Write, 1, 4096, 65536).TryFormat(header, out _);
        await second.SendAsync(header);
        await second.SendAsync(new byte[1000]);
        await second.DisposeAsync();
        await WaitForNoOpenHandlesAsync();

        _disk.Hook = null;
        var (third, _, _) = await NbdTestClient.OpenAsync(_host.EndPoint, "rbd/disk");
        await using (third) await AssertUsableAsync(third);
        Assert.Equal(0, _host.Server.Counters.Malformed);
    }

    [Fact]
    public async Task BadRequestMagic_ClosesThatConnectionOnly()
    {
        var (bad, _, _) = await NbdTestClient.OpenAsync(_host.EndPoint, "rbd/disk");
        var (good, _, _) = await NbdTestClient.OpenAsync(_host.EndPoint, "rbd/disk");
        await using (bad)
        await using (good)
        {
            await bad.SendAsync(Convert.FromHexString("67446698000000000000000000000001000000000000000000000200"));
            Assert.True(await bad.ServerClosedAsync());
            Assert.Equal(1, _host.Server.Counters.Malformed);
            await AssertUsableAsync(good);
        }
        await WaitForNoOpenHandlesAsync();
    }

    [Fact]
    public async Task AbsurdWriteLength_ClosesTheConnection()
    {
        var (client, _, _) = await NbdTestClient.OpenAsync(_host.EndPoint, "rbd/disk");
        await using (client)
        {
            await client.SendRequestAsync(NbdCommand.Write, 1, 0, uint.MaxValue);
            Assert.True(await client.ServerClosedAsync());
        }
        Assert.Equal(1, _host.Server.Counters.Malformed);
    }

    /// <summary>Random bytes after each stage of a valid session; the server must only ever close the connection.</summary>
    [Fact]
    public async Task Garbage_NeverCrashesTheServer()
    {
        var random = new Random(20240601);
        for (int round = 0; round < 60; round++)
        {
            var junk = new byte[random.Next(1, 200)];
            random.NextBytes(junk);
            int stage = round % 3;
            await using var client = stage == 0
                ? await NbdTestClient.ConnectRawAsync(_host.EndPoint)
                : stage == 1 ? await NbdTestClient.ConnectAsync(_host.EndPoint) : (await NbdTestClient.OpenAsync(_host.EndPoint, "rbd/disk")).Client;
            if (stage == 0) await client.ReadBytesAsync(NbdGreeting.Size);
            await client.SendAsync(junk);
            // Truncated input is left hanging half the time, closed the other half.
            if (random.Next(2) == 0) client.Socket.Shutdown(System.Net.Sockets.SocketShutdown.Send);
        }
        await WaitForNoOpenHandlesAsync();
        Assert.False(_host.Serving.IsCompleted);
        var (after, _, _) = await NbdTestClient.OpenAsync(_host.EndPoint, "rbd/disk");
        await using (after) await AssertUsableAsync(after);
    }

    [Fact]
    public async Task ConcurrentConnections_EachWriteTheirOwnRegion()
    {
        const int clients = 8, chunk = 64 << 10, writes = 8;
        await Parallel.ForEachAsync(Enumerable.Range(0, clients), async (c, _) =>
        {
            var (client, _, _) = await NbdTestClient.OpenAsync(_host.EndPoint, "rbd/disk");
            await using (client)
            {
                for (int w = 0; w < writes; w++)
                {
                    ulong handle = (ulong)w + 1;
                    await client.SendRequestAsync(NbdCommand.Write, handle, (ulong)((c * writes + w) * chunk), chunk, payload: Pattern(chunk, c * 100 + w));
                }
                var answered = new HashSet<ulong>();
                for (int w = 0; w < writes; w++)
                {
                    var reply = await client.ReadReplyAsync();
                    Assert.Equal(0u, reply.Error);
                    answered.Add(reply.Handle);
                }
                Assert.Equal(writes, answered.Count);
                Assert.Equal(0u, await client.CommandAsync(NbdCommand.Flush, 0, 0));
            }
        });
        var contents = _disk.Snapshot();
        for (int c = 0; c < clients; c++)
            for (int w = 0; w < writes; w++)
                Assert.Equal(Pattern(chunk, c * 100 + w), contents.AsSpan((c * writes + w) * chunk, chunk).ToArray());
        await WaitForNoOpenHandlesAsync();
        Assert.Equal(clients, _catalog.Opened);
    }

    [Fact]
    public async Task UnixSocket_ServesTheSameProtocol()
    {
        await using var host = new NbdServerHost(_catalog, unix: true);
        var (client, size, _) = await NbdTestClient.OpenAsync(host.EndPoint, "rbd/disk");
        await using (client)
        {
            Assert.Equal((ulong)Size, size);
            Assert.Equal(0u, await client.WriteAsync(512, Pattern(512, 7)));
            Assert.Equal(Pattern(512, 7), await client.ReadAsync(512, 512));
        }
    }

    [Fact]
    public async Task Stopping_ClosesEveryConnectionAndDisposesEveryDevice()
    {
        var held = new ConcurrentBag<int>();
        _disk.Hook = async (_, _, token) =>
        {
            held.Add(1);
            await Task.Delay(Timeout.Infinite, token);
        };
        var (client, _, _) = await NbdTestClient.OpenAsync(_host.EndPoint, "rbd/disk");
        var idle = await NbdTestClient.ConnectAsync(_host.EndPoint);
        await using (client)
        await using (idle)
        {
            await client.SendRequestAsync(NbdCommand.Read, 1, 0, 512);
            await Wait.UntilAsync(() => !held.IsEmpty, Deadline, "read reached the device");
            await _host.StopAsync();
            Assert.True(await client.ServerClosedAsync());
            Assert.True(await idle.ServerClosedAsync());
        }
    }

    [Fact]
    public void LogEventIds_AreUnique()
    {
        var ids = typeof(NbdServer).Assembly.GetTypes()
            .SelectMany(t => t.GetMethods(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic))
            .Select(m => m.GetCustomAttribute<LoggerMessageAttribute>())
            .OfType<LoggerMessageAttribute>()
            .Select(a => a.EventId)
            .ToList();
        Assert.NotEmpty(ids);
        Assert.Equal(ids.Count, ids.Distinct().Count());
    }
}
