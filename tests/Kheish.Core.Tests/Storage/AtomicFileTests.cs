using Kheish.Core.Storage;

namespace Kheish.Core.Tests.Storage;

public sealed class AtomicFileTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "kheish-test-" + Guid.NewGuid().ToString("N"));

    [Test]
    public async Task Write_creates_a_0600_file_inside_a_0700_directory()
    {
        string path = Path.Combine(_dir, "sub", "state.json");

        AtomicFile.WriteText(path, "{}");

        await Assert.That(File.ReadAllText(path)).IsEqualTo("{}");
        await Assert.That(File.GetUnixFileMode(path)).IsEqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite);
        await Assert.That(File.GetUnixFileMode(Path.Combine(_dir, "sub"))).IsEqualTo(PrivateDirectory.Mode);
    }

    [Test]
    public async Task Write_replaces_the_previous_contents_and_leaves_no_temp_file()
    {
        string path = Path.Combine(_dir, "state.json");
        AtomicFile.WriteText(path, "old");

        AtomicFile.WriteText(path, "new");

        await Assert.That(File.ReadAllText(path)).IsEqualTo("new");
        await Assert.That(Directory.GetFiles(_dir).Select(f => Path.GetFileName(f)!)).IsEquivalentTo(["state.json"], CollectionOrdering.Matching);
    }

    [Test]
    public async Task Ensure_tightens_a_world_readable_directory()
    {
        Directory.CreateDirectory(_dir);
        File.SetUnixFileMode(_dir, (UnixFileMode)0b111_101_101);

        PrivateDirectory.Ensure(_dir);

        await Assert.That(File.GetUnixFileMode(_dir)).IsEqualTo(PrivateDirectory.Mode);
    }

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }
}
