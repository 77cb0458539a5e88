using Rampart.Common.Processes;
using Rampart.Vrrp.Config;

namespace Rampart.Vrrp.Daemon;

/// <summary>Runs one vrrp_script every interval; reports a change only after `rise` successes or `fall` failures in a row.</summary>
internal sealed class ScriptChecker(VrrpScriptConfig script, string? user, bool insecure = false)
{
    private bool _ok = true;   // keepalived assumes a script is good until it has failed `fall` times
    private int _streak;

    /// <summary>The checked state as rise/fall decided it.</summary>
    public bool Ok => _ok;

    public async Task RunAsync(Action<bool> onChange, CancellationToken token)
    {
        using var timer = new PeriodicTimer(script.Interval);
        do
        {
            bool succeeded = !insecure && (await ScriptRunner.RunAsync(script.Script, script.Timeout ?? script.Interval, user, token).ConfigureAwait(false)).Succeeded;
            if (token.IsCancellationRequested) return;
            if (Observe(succeeded) is { } changed) onChange(changed);
        }
        while (await WaitAsync(timer, token).ConfigureAwait(false));
    }

    /// <summary>Pure rise/fall logic: returns the new status when it changes.</summary>
    internal bool? Observe(bool success)
    {
        if (success == _ok) { _streak = 0; return null; }
        _streak++;
        if (_streak < (success ? script.Rise : script.Fall)) return null;
        _ok = success;
        _streak = 0;
        return _ok;
    }

    private static async Task<bool> WaitAsync(PeriodicTimer timer, CancellationToken token)
    {
        try { return await timer.WaitForNextTickAsync(token).ConfigureAwait(false); }
        catch (OperationCanceledException) { return false; }
    }
}
