using Kheish.Core.Storage;

namespace Kheish.Core.Tests.Storage;

/// <summary>The change check that replaces per-request stat calls (issue 16): a change is seen by the very next call.</summary>
public sealed class FileChangeWatchTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "kheish-watch-" + Guid.NewGuid().ToString("N")[..12]);

    public FileChangeWatchTests() => Directory.CreateDirectory(_dir);

    /// <summary>A token file holding "a", and a watch tracking it.</summary>
    private FileChangeWatch WatchedToken(out string file)
    {
        file = Path.Combine(_dir, "token");
        File.WriteAllText(file, "a");
        FileChangeWatch watch = FileChangeWatch.Create();
        watch.Track(file);
        return watch;
    }

    [Test]
    public async Task Nothing_changed_means_the_same_generation()
    {
        using FileChangeWatch watch = WatchedToken(out _);

        long first = watch.Generation();

        await Assert.That(watch.IsPolling).IsFalse();
        await Assert.That(watch.Generation()).IsEqualTo(first);
    }

    [Test]
    public async Task An_in_place_rewrite_is_seen_by_the_very_next_call()
    {
        using FileChangeWatch watch = WatchedToken(out string file);
        long before = watch.Generation();

        File.WriteAllText(file, "b");

        await Assert.That(watch.Generation()).IsNotEqualTo(before);
    }

    [Test]
    public async Task Checks_as_of_one_instant_share_a_drain_and_a_later_instant_sees_the_change()
    {
        using FileChangeWatch watch = WatchedToken(out string file);
        long serving = System.Diagnostics.Stopwatch.GetTimestamp();
        long first = watch.Generation(serving);

        File.WriteAllText(file, "b");

        // As of `serving` nothing had changed: the drain that began after it answers again.
        await Assert.That(watch.Generation(serving)).IsEqualTo(first);
        // An instant after the change: the earlier drain began before it, so it cannot answer.
        await Assert.That(watch.Generation(System.Diagnostics.Stopwatch.GetTimestamp())).IsNotEqualTo(first);
    }

    [Test]
    public async Task A_change_before_the_instant_is_seen_even_right_after_a_drain()
    {
        using FileChangeWatch watch = WatchedToken(out string file);
        long before = watch.Generation();
        File.WriteAllText(file, "b");

        long serving = System.Diagnostics.Stopwatch.GetTimestamp();

        await Assert.That(watch.Generation(serving)).IsNotEqualTo(before);
    }

    [Test]
    public async Task A_rename_over_the_file_is_seen_by_the_very_next_call()
    {
        using FileChangeWatch watch = WatchedToken(out string file);
        long before = watch.Generation();
        File.WriteAllText(file + ".tmp", "b");

        File.Move(file + ".tmp", file, overwrite: true);

        await Assert.That(watch.Generation()).IsNotEqualTo(before);
    }

    [Test]
    public async Task A_file_in_a_directory_created_after_the_watch_started_is_seen()
    {
        string file = Path.Combine(_dir, "later", "security.json");
        using var watch = FileChangeWatch.Create();
        watch.Track(file);
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        long afterDirectory = watch.Generation();
        await Assert.That(watch.Generation()).IsEqualTo(afterDirectory);

        File.WriteAllText(file, "{}");

        await Assert.That(watch.Generation()).IsNotEqualTo(afterDirectory);
    }

    [Test]
    public async Task A_permission_change_on_a_parent_directory_is_seen()
    {
        string file = Path.Combine(_dir, "sub", "token");
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        File.WriteAllText(file, "a");
        using var watch = FileChangeWatch.Create();
        watch.Track(file);
        long before = watch.Generation();

        File.SetUnixFileMode(_dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        await Assert.That(watch.Generation()).IsNotEqualTo(before);
    }

    [Test]
    public async Task Changes_to_other_entries_of_an_ancestor_directory_are_not_a_change()
    {
        // The ancestors' watches (up to /tmp) also report their other entries: a parallel test's
        // chmod or touch of a sibling in /tmp used to move the generation.
        string file = Path.Combine(_dir, "sub", "token");
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        File.WriteAllText(file, "a");
        string sibling = Path.Combine(_dir, "sibling");
        File.WriteAllText(sibling, "x");
        using var watch = FileChangeWatch.Create();
        watch.Track(file);
        long before = watch.Generation();

        File.SetUnixFileMode(sibling, UnixFileMode.UserRead);
        File.SetLastWriteTimeUtc(sibling, DateTime.UtcNow.AddMinutes(-5));
        File.WriteAllText(Path.Combine(_dir, "another"), "y");

        await Assert.That(watch.Generation()).IsEqualTo(before);
        File.WriteAllText(file, "b");
        await Assert.That(watch.Generation()).IsNotEqualTo(before);
    }

    [Test]
    public async Task A_path_through_a_symbolic_link_falls_back_to_checking_every_time()
    {
        string target = Path.Combine(_dir, "real");
        File.WriteAllText(target, "a");
        string link = Path.Combine(_dir, "link");
        File.CreateSymbolicLink(link, target);
        using var watch = FileChangeWatch.Create();

        watch.Track(link);

        await Assert.That(watch.IsPolling).IsTrue();
        await Assert.That(watch.Generation()).IsNotEqualTo(watch.Generation());
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
