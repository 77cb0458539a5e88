using System.Diagnostics;

namespace Rampart.Testing;

/// <summary>The rampart executable every integration test and benchmark drives.</summary>
public static class RampartCli
{
    /// <summary>The rampart CLI built by the repository's ./rampart wrapper (built once per test run).</summary>
    public static string Path => LazyPath.Value;

    private static readonly Lazy<string> LazyPath = new(() =>
    {
        var root = AppContext.BaseDirectory;
        while (!File.Exists(System.IO.Path.Combine(root, "Rampart.slnx"))) root = System.IO.Path.GetDirectoryName(root) ?? throw new InvalidOperationException("repository root not found");
        var wrapper = System.IO.Path.Combine(root, "rampart");
        using var build = Process.Start(new ProcessStartInfo(wrapper, "--help") { RedirectStandardOutput = true, RedirectStandardError = true })!;
        string error = build.StandardError.ReadToEnd();
        build.WaitForExit();
        if (build.ExitCode != 0) throw new InvalidOperationException($"./rampart --help failed: {error}");
        return System.IO.Path.Combine(root, ".build", "cli", "rampart");
    });
}

/// <summary>Waiting on a condition with a deadline: the only way tests synchronise with real processes.</summary>
public static class Wait
{
    /// <summary>Polls a condition until it holds or the deadline passes; the message says what was awaited.</summary>
    public static Task UntilAsync(Func<Task<bool>> condition, TimeSpan limit, string what) => UntilAsync(condition, limit, () => what);

    /// <summary>Like the other, with the message computed at the deadline (to include the last state seen).</summary>
    public static async Task UntilAsync(Func<Task<bool>> condition, TimeSpan limit, Func<string> what)
    {
        var clock = Stopwatch.StartNew();
        Exception? last = null;
        while (clock.Elapsed < limit)
        {
            try { if (await condition()) return; last = null; }
            // Daemons restarting, elections, maps in flight: any failure here is "not yet".
            catch (Exception e) when (e is not OutOfMemoryException) { last = e; }
            await Task.Delay(20);
        }
        throw new TimeoutException($"not within {limit.TotalSeconds:0.#} s: {what()}{(last is null ? "" : $" (last error: {last.Message})")}");
    }

    public static Task UntilAsync(Func<bool> condition, TimeSpan limit, string what) =>
        UntilAsync(() => Task.FromResult(condition()), limit, what);
}
