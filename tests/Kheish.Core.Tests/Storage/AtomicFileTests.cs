using Kheish.Core.Storage;

namespace Kheish.Core.Tests.Storage;

public sealed class AtomicFileTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "kheish-test-" + Guid.NewGuid().ToString("N"));

    [Fact]
    public void Write_creates_a_0600_file_inside_a_0700_directory()
    {
        string path = Path.Combine(_dir, "sub", "state.json");

        AtomicFile.WriteText(path, "{}");

        Assert.Equal("{}", File.ReadAllText(path));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        Assert.Equal(PrivateDirectory.Mode, File.GetUnixFileMode(Path.Combine(_dir, "sub")));
    }

    [Fact]
    public void Write_replaces_the_previous_contents_and_leaves_no_temp_file()
    {
        string path = Path.Combine(_dir, "state.json");
        AtomicFile.WriteText(path, "old");

        AtomicFile.WriteText(path, "new");

        Assert.Equal("new", File.ReadAllText(path));
        Assert.Equal(["state.json"], Directory.GetFiles(_dir).Select(Path.GetFileName));
    }

    [Fact]
    public void Ensure_tightens_a_world_readable_directory()
    {
        Directory.CreateDirectory(_dir);
        File.SetUnixFileMode(_dir, (UnixFileMode)0b111_101_101);

        PrivateDirectory.Ensure(_dir);

        Assert.Equal(PrivateDirectory.Mode, File.GetUnixFileMode(_dir));
    }

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }
}
