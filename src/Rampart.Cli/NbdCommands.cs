using System.CommandLine;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Rampart.Common.AdminSocket;
using Rampart.Rados.Config;
using Rampart.Rbd;
using Rampart.Rbd.Cache;
using Rampart.Rbd.Images;
using Rampart.Rbd.Nbd;

namespace Rampart.Cli;

/// <summary>`rampart nbd serve`: images as NBD exports for QEMU, qemu-img, nbdcopy, fio and the kernel's nbd-client.</summary>
internal static class NbdCommands
{
    public static Command Build()
    {
        var nbd = new Command("nbd", "Serve images over NBD.");
        var common = new AdminCommands.Common();
        var listen = new Option<string>("--listen") { Description = "TCP address:port to listen on, or 'none' (default 127.0.0.1:10809)", DefaultValueFactory = _ => "127.0.0.1:10809" };
        var socket = new Option<string?>("--socket") { Description = "Also listen on this Unix socket path" };
        var exports = new Option<string[]>("--export") { Description = "Serve only these, POOL/IMAGE or POOL/IMAGE@SNAP (read-only); repeatable. Default: every image", AllowMultipleArgumentsPerToken = true };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Log every connection" };
        var adminSocket = new Option<string?>("--admin-socket") { Description = $"Admin socket for `rampart daemon` (default: admin_socket in rampart.conf, else {ClientAdminSocket.DefaultPath}; 'none': no socket)" };
        var serve = common.Add(new Command("serve", "Serve images over NBD until Ctrl-C (fixed newstyle, structured replies; READ, WRITE+FUA, FLUSH, TRIM, WRITE_ZEROES, BLOCK_STATUS).") { listen, socket, exports, verbose, adminSocket });
        serve.SetAction(common.RunRados(async (r, client, token) =>
        {
            var only = r.GetValue(exports) is { Length: > 0 } list ? list.Select(ImageSpec.Parse).ToList() : null;
            using var logs = Logs.Create(r.GetValue(verbose) ? LogLevel.Debug : LogLevel.Information);
            var log = logs.CreateLogger("nbd");
            // rbd_cache (one writeback cache per image, shared by its connections) and the admin socket: ClientAdminSocket.cs.
            var conf = RampartConf.Load(RampartConf.Resolve(r.GetValue(common.Conf)));
            string entity = client.Entity.ToString();
            var cache = RbdCacheConfig.FromConf(conf, entity);
            var perf = new PerfRegistry();
            var server = new NbdServer(new ImageCatalog(client, only, new ImageDevices(cache, perf, logs.CreateLogger("rbd-cache"))), log);
            perf.Add(ClientAdminSocket.NbdSection(server.Counters));
            string? adminPath = ClientAdminSocket.PathFor(conf, entity, r.GetValue(adminSocket));
            await using var admin = ClientAdminSocket.Start(adminPath, perf, ClientAdminSocket.Settings(conf, entity, adminPath, cache), log);
            var listeners = new List<(Socket Socket, string Name)>();
            try
            {
                if (r.GetValue(listen) is { } address && address != "none")
                {
                    var endpoint = IPEndPoint.TryParse(address, out var e) ? e : throw new ArgumentException($"Error EINVAL: --listen '{address}' is not address:port");
                    var tcp = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                    tcp.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                    listeners.Add((tcp, endpoint.ToString()));
                    tcp.Bind(endpoint);
                    tcp.Listen(128);
                }
                if (r.GetValue(socket) is { } path)
                {
                    if (File.Exists(path)) File.Delete(path); // a stale socket of an earlier run
                    var unix = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                    listeners.Add((unix, $"unix:{path}"));
                    unix.Bind(new UnixDomainSocketEndPoint(path));
                    unix.Listen(128);
                }
                if (listeners.Count == 0)
                    throw new ArgumentException("Error EINVAL: nothing to listen on (--listen none and no --socket)");
            }
            catch (SocketException e)
            {
                foreach (var (s, _) in listeners) s.Dispose();
                throw new IOException($"Error EADDRINUSE: cannot listen on {listeners[^1].Name}: {e.Message}");
            }
            log.LogInformation("serving {Exports} on {Listeners}{Cache}", only is null ? "every image" : string.Join(", ", only), string.Join(" and ", listeners.Select(l => l.Name)),
                cache.Enabled ? " with rbd_cache (writeback)" : "");
            try
            {
                await Task.WhenAll(listeners.Select(l => server.ServeAsync(l.Socket, token)));
            }
            catch (OperationCanceledException)
            {
            }
            finally
            {
                foreach (var (s, _) in listeners) s.Dispose();
                if (r.GetValue(socket) is { } path) File.Delete(path);
            }
            log.LogInformation("stopped after {Connections} connections, {Requests} requests, {Errors} errors", server.Counters.Connections, server.Counters.Requests, server.Counters.Errors);
            return 0;
        }));
        nbd.Subcommands.Add(serve);
        return nbd;
    }
}
