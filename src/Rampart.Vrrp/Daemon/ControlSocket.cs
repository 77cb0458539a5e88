using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace Rampart.Vrrp.Daemon;

/// <summary>
/// A Unix socket beside the daemon: a client writes one command line ("status") and reads one JSON document.
/// </summary>
public static class ControlSocket
{
    public const string DefaultPath = "/run/rampart/vrrp.sock";

    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public static async Task ServeAsync(string path, VrrpDaemon daemon, ILogger log, CancellationToken token)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        if (File.Exists(path)) File.Delete(path);
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen(16);
        try
        {
            while (!token.IsCancellationRequested)
            {
                Socket client;
                try { client = await listener.AcceptAsync(token).ConfigureAwait(false); }
                catch (OperationCanceledException) { break; }
                _ = AnswerAsync(client, daemon, log);
            }
        }
        finally
        {
            try { File.Delete(path); } catch (IOException) { }
        }
    }

    private static async Task AnswerAsync(Socket client, VrrpDaemon daemon, ILogger log)
    {
        using (client)
        await using (var stream = new NetworkStream(client, ownsSocket: false))
        {
            try
            {
                using var reader = new StreamReader(stream, Encoding.UTF8, leaveOpen: true);
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                var command = (await reader.ReadLineAsync(timeout.Token).ConfigureAwait(false))?.Trim();
                byte[] answer = command switch
                {
                    "status" => JsonSerializer.SerializeToUtf8Bytes(await daemon.GetStatusAsync().WaitAsync(timeout.Token).ConfigureAwait(false), Json),
                    _ => JsonSerializer.SerializeToUtf8Bytes(new { error = $"unknown command '{command}'" }, Json),
                };
                await stream.WriteAsync(answer, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException)
            {
                log.LogDebug("control client: {Error}", e.Message);
            }
        }
    }

    /// <summary>Client side: sends a command and returns the daemon's answer.</summary>
    public static async Task<string> RequestAsync(string path, string command, CancellationToken token)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), token).ConfigureAwait(false);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        await stream.WriteAsync(Encoding.UTF8.GetBytes(command + "\n"), token).ConfigureAwait(false);
        socket.Shutdown(SocketShutdown.Send);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return await reader.ReadToEndAsync(token).ConfigureAwait(false);
    }
}
