using System.Buffers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace Rampart.Common.AdminSocket;

/// <summary>
/// A process's admin socket (Ceph's `admin_socket`): a Unix socket where a client writes one command line
/// ("perf dump", "config show", "help") and reads one JSON document, after which the server closes the connection.
/// The file is created by <see cref="Start"/> and removed on dispose.
/// </summary>
/// <remarks>
/// A command is the longest registered word sequence the line starts with; the words after it are its arguments
/// ("perf dump librbd-…"). An unknown command or a failing handler is answered with <c>{"error": "…"}</c> alone.
/// </remarks>
public sealed class AdminSocketServer : IAsyncDisposable
{
    /// <summary>Writes the answer (one JSON value) for the arguments after the command's words.</summary>
    public delegate ValueTask Handler(IReadOnlyList<string> args, Utf8JsonWriter json, CancellationToken cancellationToken);

    /// <summary>Longer lines are refused: a command is a few words.</summary>
    public const int MaxLineBytes = 4096;

    private static readonly TimeSpan ClientTimeout = TimeSpan.FromSeconds(10);

    private readonly ILogger _logger;
    private readonly SortedDictionary<string, (string Help, Handler Handler)> _commands = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private readonly HashSet<Task> _answering = [];
    private Socket? _listener;
    private Task? _accepting;

    public AdminSocketServer(string path, ILogger logger)
    {
        Path = path;
        _logger = logger;
        Register("help", "list available commands", (_, json, _) =>
        {
            json.WriteStartObject();
            foreach (var (command, (help, _)) in _commands) json.WriteString(command, help);
            json.WriteEndObject();
            return ValueTask.CompletedTask;
        });
    }

    public string Path { get; }

    /// <summary>Adds a command before <see cref="Start"/>: <paramref name="command"/> is its words, "perf dump".</summary>
    public void Register(string command, string help, Handler handler)
    {
        if (_listener is not null) throw new InvalidOperationException("register admin socket commands before Start");
        _commands[string.Join(' ', Words(command))] = (help, handler);
    }

    /// <summary>
    /// "$name", "$id", "$pid" and "$cluster" in an admin_socket value, as Ceph expands them: client.admin, admin,
    /// the process id, rampart.
    /// </summary>
    public static string ExpandPath(string template, string name, int pid)
    {
        int dot = name.IndexOf('.', StringComparison.Ordinal);
        return template
            .Replace("$pid", pid.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("$name", name, StringComparison.Ordinal)
            .Replace("$id", dot >= 0 ? name[(dot + 1)..] : name, StringComparison.Ordinal)
            .Replace("$cluster", "rampart", StringComparison.Ordinal);
    }

    /// <summary>
    /// Creates the socket (and its directory) and starts answering. A stale file of a dead process is replaced; a
    /// socket another live process answers on is not: that is an <see cref="IOException"/>, as is any bind failure.
    /// </summary>
    public void Start()
    {
        if (_listener is not null) throw new InvalidOperationException("admin socket already started");
        try
        {
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(Path))!);
            if (File.Exists(Path))
            {
                if (IsAnswered(Path)) throw new IOException($"admin socket {Path}: another process is answering on it");
                File.Delete(Path);
            }
            var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                listener.Bind(new UnixDomainSocketEndPoint(Path));
                listener.Listen(16);
            }
            catch
            {
                listener.Dispose();
                throw;
            }
            _listener = listener;
        }
        catch (Exception e) when (e is SocketException or UnauthorizedAccessException or ArgumentException)
        {
            throw new IOException($"admin socket {Path}: {e.Message}", e);
        }
        _accepting = AcceptAsync(_listener, _stop.Token);
        AdminSocketLog.Listening(_logger, Path);
    }

    private static bool IsAnswered(string path)
    {
        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            probe.Connect(new UnixDomainSocketEndPoint(path));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private async Task AcceptAsync(Socket listener, CancellationToken token)
    {
        while (!token.IsCancellationRequested)
        {
            Socket client;
            try { client = await listener.AcceptAsync(token).ConfigureAwait(false); }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException) { break; }
            catch (SocketException e)
            {
                AdminSocketLog.AcceptFailed(_logger, Path, e.Message);
                try { await Task.Delay(100, token).ConfigureAwait(false); } catch (OperationCanceledException) { break; }
                continue;
            }
            var task = AnswerAsync(client, token);
            lock (_answering) _answering.Add(task);
            _ = task.ContinueWith(t => { lock (_answering) _answering.Remove(t); }, CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    /// <summary>Reads one line, writes one JSON document, closes. Never throws.</summary>
    private async Task AnswerAsync(Socket client, CancellationToken stop)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stop);
        timeout.CancelAfter(ClientTimeout);
        using (client)
        {
            try
            {
                string? line = await ReadLineAsync(client, timeout.Token).ConfigureAwait(false);
                byte[] answer = line is null
                    ? ErrorJson($"command line longer than {MaxLineBytes} bytes")
                    : await ExecuteAsync(line, timeout.Token).ConfigureAwait(false);
                await client.SendAsync(answer, SocketFlags.None, timeout.Token).ConfigureAwait(false);
                client.Shutdown(SocketShutdown.Both);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                AdminSocketLog.ClientFailed(_logger, Path, e.Message);
            }
        }
    }

    /// <summary>The answer to one command line, as the bytes sent back (indented JSON and a newline).</summary>
    public async Task<byte[]> ExecuteAsync(string line, CancellationToken cancellationToken)
    {
        var words = Words(line);
        for (int n = words.Length; n > 0; n--)
        {
            if (!_commands.TryGetValue(string.Join(' ', words[..n]), out var command)) continue;
            var buffer = new ArrayBufferWriter<byte>();
            try
            {
                await using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
                    await command.Handler(words[n..], json, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                AdminSocketLog.CommandFailed(_logger, e, Path, line);
                return ErrorJson($"{string.Join(' ', words[..n])}: {e.Message}");
            }
            return [.. buffer.WrittenSpan, (byte)'\n'];
        }
        return ErrorJson(words.Length == 0 ? "empty command (try 'help')" : $"unknown command '{string.Join(' ', words)}' (try 'help')");
    }

    private static byte[] ErrorJson(string message) =>
        [.. JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, string> { ["error"] = message }), (byte)'\n'];

    private static string[] Words(string line) => line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);

    /// <summary>Bytes up to '\n' or the end of the client's writes; null when longer than <see cref="MaxLineBytes"/>.</summary>
    private static async Task<string?> ReadLineAsync(Socket client, CancellationToken cancellationToken)
    {
        var buffer = new byte[MaxLineBytes + 1];
        int length = 0;
        while (length < buffer.Length)
        {
            int read = await client.ReceiveAsync(buffer.AsMemory(length), SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (read == 0) break;
            int newline = Array.IndexOf(buffer, (byte)'\n', length, read);
            length += read;
            if (newline >= 0) return Encoding.UTF8.GetString(buffer, 0, newline);
        }
        return length > MaxLineBytes ? null : Encoding.UTF8.GetString(buffer, 0, length);
    }

    /// <summary>Stops answering, waits for answers being written, and removes the socket file.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested) return;
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_listener is { } listener)
        {
            listener.Dispose();
            await _accepting!.ConfigureAwait(false);
            Task[] answering;
            lock (_answering) answering = [.. _answering];
            await Task.WhenAll(answering).ConfigureAwait(false);
            try { File.Delete(Path); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { AdminSocketLog.RemoveFailed(_logger, Path, e.Message); }
        }
        _stop.Dispose();
    }
}

/// <summary>The client side of an admin socket, as `rampart daemon` uses it.</summary>
public static class AdminSocketClient
{
    /// <summary>
    /// Sends <paramref name="command"/> and returns the JSON answer. A socket that is missing or that nobody answers
    /// on is an <see cref="IOException"/> with a one-line reason.
    /// </summary>
    public static async Task<string> RequestAsync(string path, string command, CancellationToken cancellationToken)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException e)
        {
            throw new IOException(e.SocketErrorCode switch
            {
                SocketError.ConnectionRefused => $"admin socket {path}: connection refused (the process that made it is gone)",
                SocketError.AccessDenied => $"admin socket {path}: permission denied",
                _ when !File.Exists(path) => $"admin socket {path}: no such file (is the process running with this admin_socket?)",
                _ => $"admin socket {path}: {e.Message}",
            }, e);
        }
        try
        {
            await socket.SendAsync(Encoding.UTF8.GetBytes(command + "\n"), SocketFlags.None, cancellationToken).ConfigureAwait(false);
            socket.Shutdown(SocketShutdown.Send);
            using var answer = new MemoryStream();
            var buffer = new byte[16384];
            int read;
            while ((read = await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken).ConfigureAwait(false)) > 0)
                answer.Write(buffer, 0, read);
            return Encoding.UTF8.GetString(answer.GetBuffer(), 0, (int)answer.Length);
        }
        catch (SocketException e)
        {
            throw new IOException($"admin socket {path}: {e.Message}", e);
        }
    }
}
