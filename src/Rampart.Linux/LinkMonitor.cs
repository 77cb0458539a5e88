using System.Net.Sockets;

namespace Rampart.Linux;

/// <summary>
/// Watches interfaces through an rtnetlink RTMGRP_LINK subscription and raises <see cref="LinkChanged"/>
/// (device, isUp) when a watched interface goes up or down (up = admin up, running and carrier).
/// Works in the network namespace of the constructing thread. Events come from a background task.
/// </summary>
public sealed class LinkMonitor : IDisposable
{
    private const uint RTMGRP_LINK = 1;
    private readonly NetlinkRoute _query = new();
    private readonly Socket _events;
    private readonly Dictionary<string, bool> _state;
    private readonly Lock _lock = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public event Action<string, bool>? LinkChanged;

    public LinkMonitor(IEnumerable<string> devices)
    {
        _events = NetlinkRoute.Open(RTMGRP_LINK); // subscribe before reading the state, so no change falls in between
        _state = devices.Distinct().ToDictionary(d => d, d => _query.GetLink(d)?.IsUp ?? false);
        _loop = Task.Run(RunAsync);
    }

    public LinkMonitor(params string[] devices) : this((IEnumerable<string>)devices) { }

    /// <summary>The last known state of a watched device.</summary>
    public bool IsUp(string device)
    {
        lock (_lock) return _state.TryGetValue(device, out bool up) && up;
    }

    private async Task RunAsync()
    {
        var buffer = new byte[64 * 1024];
        while (!_stop.IsCancellationRequested)
        {
            int received;
            try
            {
                received = await _events.ReceiveAsync(buffer, SocketFlags.None, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) { return; }
            catch (ObjectDisposedException) { return; }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.NoBufferSpaceAvailable)
            {
                Resync(); // events were dropped: read the state again
                continue;
            }
            catch (SocketException) when (_stop.IsCancellationRequested) { return; }

            foreach (var message in NetlinkMessage.Parse(buffer.AsMemory(0, received)))
            {
                if (message.Type is not (NetlinkRoute.RTM_NEWLINK or NetlinkRoute.RTM_DELLINK)) continue;
                var link = NetlinkRoute.ParseLink(message);
                Update(link.Name, message.Type == NetlinkRoute.RTM_NEWLINK && link.IsUp);
            }
        }
    }

    private void Resync()
    {
        List<string> devices;
        lock (_lock) devices = [.. _state.Keys];
        foreach (var device in devices) Update(device, _query.GetLink(device)?.IsUp ?? false);
    }

    private void Update(string device, bool up)
    {
        lock (_lock)
        {
            if (!_state.TryGetValue(device, out bool was) || was == up) return;
            _state[device] = up;
        }
        LinkChanged?.Invoke(device, up);
    }

    public void Dispose()
    {
        _stop.Cancel();
        _events.Dispose();
        try { _loop.Wait(TimeSpan.FromSeconds(5)); } catch (AggregateException) { }
        _query.Dispose();
        _stop.Dispose();
    }
}
