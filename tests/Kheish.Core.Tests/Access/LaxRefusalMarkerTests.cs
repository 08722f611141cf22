using Kheish.Core.Access;
using Kheish.Core.Errors;

namespace Kheish.Core.Tests.Access;

/// <summary>An offline switch to lax is refused while a daemon that would refuse lax reads the file (issue 12).</summary>
public sealed class LaxRefusalMarkerTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "kheish-laxmark-" + Guid.NewGuid().ToString("N")[..12]);

    public LaxRefusalMarkerTests()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "project", ".kheish"));
        Directory.CreateDirectory(Path.Combine(_dir, "config", "kheish"));
    }

    private SecurityConfigLocation Location => new(
        Path.Combine(_dir, "project"),
        Path.Combine(_dir, "project", ".kheish", "security.json"),
        Path.Combine(_dir, "config", "kheish", "security.json"));

    [Test]
    public async Task Lax_is_refused_while_the_marker_is_held_and_the_file_is_left_unchanged()
    {
        var target = new SecurityConfigTarget(SecurityConfigOrigin.Project, Location.ProjectFile);
        await Assert.That(SecurityConfigOperations.SetMode(target, SecurityMode.Strict).IsOk).IsTrue();
        byte[] before = File.ReadAllBytes(target.File);

        using (LaxRefusalMarker.Hold(Location))
        {
            Result<int> refused = SecurityConfigOperations.SetMode(target, SecurityMode.Lax);

            await Assert.That(refused.IsOk).IsFalse();
            await Assert.That(refused.Error!.Code).IsEqualTo("lax_refused_by_running_daemon");
            await Assert.That(refused.Error.Message).Contains($"pid {Environment.ProcessId}");
            await Assert.That(refused.Error.Message).Contains("--allow-lax-on-network");
            await Assert.That(File.ReadAllBytes(target.File)).IsEquivalentTo(before, CollectionOrdering.Matching);
            await Assert.That(SecurityConfigOperations.SetMode(target, SecurityMode.Relaxed).IsOk).IsTrue().Because("only lax is refused");
        }

        await Assert.That(SecurityConfigOperations.SetMode(target, SecurityMode.Lax).IsOk).IsTrue();
        await Assert.That(Directory.GetFiles(Path.GetDirectoryName(target.File)!, "*no-lax*")).IsEmpty();
    }

    [Test]
    public async Task Both_candidate_files_are_marked_and_a_missing_directory_is_not_created()
    {
        Directory.Delete(Path.Combine(_dir, "project", ".kheish"));

        using (LaxRefusalMarker.Hold(Location))
        {
            await Assert.That(LaxRefusalMarker.LiveHolder(Location.GlobalFile)).IsEqualTo(Environment.ProcessId);
            await Assert.That(Directory.Exists(Path.Combine(_dir, "project", ".kheish"))).IsFalse();
        }

        await Assert.That(LaxRefusalMarker.LiveHolder(Location.GlobalFile)).IsNull();
    }

    [Test]
    public async Task A_marker_left_by_a_dead_daemon_is_stale_and_removed()
    {
        string stale = Path.Combine(Path.GetDirectoryName(Location.GlobalFile)!, ".security.json.no-lax.999999");
        File.WriteAllText(stale, "");

        await Assert.That(LaxRefusalMarker.LiveHolder(Location.GlobalFile)).IsNull();
        await Assert.That(File.Exists(stale)).IsFalse();
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
