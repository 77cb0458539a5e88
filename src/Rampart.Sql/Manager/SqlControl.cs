using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Rampart.Sql.Manager;

/// <summary>A request to a manager's control endpoint: one JSON line in, one JSON line out.</summary>
public sealed record ControlRequest(string Op, string? To = null);

public sealed record ControlReply(bool Ok, string? Error = null, SqlStatus? Status = null, string? Redirect = null);

/// <summary>Client side of the control endpoint, used by `rampart sql status|switchover`.</summary>
public static class SqlControl
{
    public static async Task<ControlReply> RequestAsync(IPEndPoint endPoint, ControlRequest request, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout);
        using var client = new TcpClient();
        await client.ConnectAsync(endPoint, limit.Token).ConfigureAwait(false);
        await using var stream = client.GetStream();
        var line = JsonSerializer.Serialize(request, SqlStatus.Json) + "\n";
        await stream.WriteAsync(Encoding.UTF8.GetBytes(line), limit.Token).ConfigureAwait(false);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var answer = await reader.ReadLineAsync(limit.Token).ConfigureAwait(false) ?? throw new IOException($"manager at {endPoint} closed the connection");
        return JsonSerializer.Deserialize<ControlReply>(answer, SqlStatus.Json) ?? throw new IOException($"manager at {endPoint} sent an empty reply");
    }

    /// <summary>Serves requests until cancelled; <paramref name="handle"/> answers each.</summary>
    public static async Task ServeAsync(TcpListener listener, Func<ControlRequest, CancellationToken, Task<ControlReply>> handle, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            TcpClient client;
            try { client = await listener.AcceptTcpClientAsync(cancellationToken).ConfigureAwait(false); }
            catch (OperationCanceledException) { return; }
            catch (ObjectDisposedException) { return; }
            catch (SocketException) { continue; }
            _ = ServeOneAsync(client, handle, cancellationToken);
        }
    }

    private static async Task ServeOneAsync(TcpClient client, Func<ControlRequest, CancellationToken, Task<ControlReply>> handle, CancellationToken cancellationToken)
    {
        using (client)
        {
            try
            {
                await using var stream = client.GetStream();
                using var reader = new StreamReader(stream, Encoding.UTF8);
                var line = await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false);
                if (line is null) return;
                ControlReply reply;
                try
                {
                    var request = JsonSerializer.Deserialize<ControlRequest>(line, SqlStatus.Json);
                    reply = request is null ? new ControlReply(false, "empty request") : await handle(request, cancellationToken).ConfigureAwait(false);
                }
                catch (JsonException e)
                {
                    reply = new ControlReply(false, $"malformed request: {e.Message}");
                }
                var answer = JsonSerializer.Serialize(reply, SqlStatus.Json) + "\n";
                await stream.WriteAsync(Encoding.UTF8.GetBytes(answer), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException) { }
        }
    }
}
