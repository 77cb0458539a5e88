using System.CommandLine;
using System.Text.Json;
using Rampart.Common.AdminSocket;

namespace Rampart.Cli;

/// <summary>`rampart daemon SOCKET COMMAND…`, like `ceph daemon`: one command to a process's admin socket, its JSON printed.</summary>
internal static class DaemonCommand
{
    public static Command Build()
    {
        var socket = new Argument<string>("SOCKET") { Description = "The process's admin socket (admin_socket; nbd serve: /run/rampart/$name.$pid.asok)" };
        var words = new Argument<string[]>("COMMAND") { Description = "perf dump [SECTION…] | config show | config get KEY | help", Arity = ArgumentArity.OneOrMore };
        var daemon = new Command("daemon", "Ask a running process through its admin socket: perf dump, config show, help.") { socket, words };
        daemon.SetAction(async (r, token) =>
        {
            string path = r.GetValue(socket)!;
            string answer;
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
                timeout.CancelAfter(TimeSpan.FromSeconds(30));
                answer = await AdminSocketClient.RequestAsync(path, string.Join(' ', r.GetValue(words)!), timeout.Token);
            }
            catch (IOException e)
            {
                Console.Error.WriteLine($"rampart daemon: {e.Message}");
                return 1;
            }
            catch (OperationCanceledException) when (!token.IsCancellationRequested)
            {
                Console.Error.WriteLine($"rampart daemon: admin socket {path}: no answer within 30 s");
                return 1;
            }
            if (ErrorOf(answer) is { } error)
            {
                Console.Error.WriteLine($"rampart daemon: {error}");
                return 1;
            }
            Console.Write(answer.EndsWith('\n') ? answer : answer + "\n");
            return 0;
        });
        return daemon;
    }

    /// <summary>The server's refusal, <c>{"error": "…"}</c> and nothing else; null for an answer.</summary>
    private static string? ErrorOf(string answer)
    {
        try
        {
            using var json = JsonDocument.Parse(answer);
            var root = json.RootElement;
            return root.ValueKind == JsonValueKind.Object && root.EnumerateObject().Count() == 1 && root.TryGetProperty("error", out var e) && e.ValueKind == JsonValueKind.String
                ? e.GetString()
                : null;
        }
        catch (JsonException)
        {
            return "the admin socket answered with something that is not JSON";
        }
    }
}
