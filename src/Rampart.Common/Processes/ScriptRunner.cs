using System.Diagnostics;

namespace Rampart.Common.Processes;

/// <summary>Runs operator scripts (health checks, notify hooks) through /bin/sh with a timeout; never throws.</summary>
public static class ScriptRunner
{
    public sealed record Result(int ExitCode, bool TimedOut, string? Error)
    {
        public bool Succeeded => ExitCode == 0 && !TimedOut && Error is null;
    }

    /// <summary>Runs "/bin/sh -c COMMAND" (as USER through runuser when given) and waits at most timeout.</summary>
    public static async Task<Result> RunAsync(string command, TimeSpan timeout, string? user = null, CancellationToken cancellationToken = default)
    {
        var start = new ProcessStartInfo
        {
            FileName = user is null or "root" ? "/bin/sh" : "/usr/sbin/runuser",
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        if (user is not null and not "root")
        {
            foreach (var arg in new[] { "-u", user, "--", "/bin/sh" }) start.ArgumentList.Add(arg);
        }
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(command);
        Process? process = null;
        try
        {
            process = Process.Start(start);
            if (process is null) return new Result(-1, false, "could not start");
            process.StandardInput.Close();
            using var timer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timer.CancelAfter(timeout);
            try
            {
                await process.WaitForExitAsync(timer.Token).ConfigureAwait(false);
                return new Result(process.ExitCode, false, null);
            }
            catch (OperationCanceledException)
            {
                try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
                bool cancelled = cancellationToken.IsCancellationRequested;
                return new Result(-1, !cancelled, cancelled ? "cancelled" : null);
            }
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            return new Result(-1, false, e.Message);
        }
        finally
        {
            process?.Dispose();
        }
    }

    /// <summary>Quotes one argument for /bin/sh.</summary>
    public static string Quote(string value) => "'" + value.Replace("'", "'\\''") + "'";
}
