using Kheish.Core.Storage;

namespace Kheish.Core.Tests.Storage;

/// <summary>The change check that replaces per-request stat calls (issue 16): a change is seen by the very next call.</summary>
public sealed class FileChangeWatchTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "kheish-watch-" + Guid.NewGuid().ToString("N")[..12]);

    public FileChangeWatchTests() => Directory.CreateDirectory(_dir);

    [Fact]
    public void Nothing_changed_means_the_same_generation()
    {
        string file = Path.Combine(_dir, "token");
        File.WriteAllText(file, "a");
        using var watch = FileChangeWatch.Create();
        watch.Track(file);

        long first = watch.Generation();

        Assert.False(watch.IsPolling);
        Assert.Equal(first, watch.Generation());
    }

    [Fact]
    public void An_in_place_rewrite_is_seen_by_the_very_next_call()
    {
        string file = Path.Combine(_dir, "token");
        File.WriteAllText(file, "a");
        using var watch = FileChangeWatch.Create();
        watch.Track(file);
        long before = watch.Generation();

        File.WriteAllText(file, "b");

        Assert.NotEqual(before, watch.Generation());
    }

    [Fact]
    public void A_rename_over_the_file_is_seen_by_the_very_next_call()
    {
        string file = Path.Combine(_dir, "token");
        File.WriteAllText(file, "a");
        using var watch = FileChangeWatch.Create();
        watch.Track(file);
        long before = watch.Generation();
        File.WriteAllText(file + ".tmp", "b");

        File.Move(file + ".tmp", file, overwrite: true);

        Assert.NotEqual(before, watch.Generation());
    }

    [Fact]
    public void A_file_in_a_directory_created_after_the_watch_started_is_seen()
    {
        string file = Path.Combine(_dir, "later", "security.json");
        using var watch = FileChangeWatch.Create();
        watch.Track(file);
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        long afterDirectory = watch.Generation();
        Assert.Equal(afterDirectory, watch.Generation());

        File.WriteAllText(file, "{}");

        Assert.NotEqual(afterDirectory, watch.Generation());
    }

    [Fact]
    public void A_permission_change_on_a_parent_directory_is_seen()
    {
        string file = Path.Combine(_dir, "sub", "token");
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        File.WriteAllText(file, "a");
        using var watch = FileChangeWatch.Create();
        watch.Track(file);
        long before = watch.Generation();

        File.SetUnixFileMode(_dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        Assert.NotEqual(before, watch.Generation());
    }

    [Fact]
    public void A_path_through_a_symbolic_link_falls_back_to_checking_every_time()
    {
        string target = Path.Combine(_dir, "real");
        File.WriteAllText(target, "a");
        string link = Path.Combine(_dir, "link");
        File.CreateSymbolicLink(link, target);
        using var watch = FileChangeWatch.Create();

        watch.Track(link);

        Assert.True(watch.IsPolling);
        Assert.NotEqual(watch.Generation(), watch.Generation());
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
