using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Hardening;

/// <summary>
/// Issue 12: a revocation on a full disk is a 503 naming the cause, and the first one after the
/// disk is freed succeeds (it was a 500 ObjectDisposedException). The state root sits on a small
/// tmpfs, so the test needs root (mount); it is skipped elsewhere.
/// </summary>
public sealed class DiskFullTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose()
    {
        _ = Run("umount", "-l", Mount);
        _dir.Dispose();
    }

    private string Mount => _dir.File("small");

    private static int Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        try
        {
            using Process p = Process.Start(psi)!;
            p.WaitForExit();
            return p.ExitCode;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return -1;
        }
    }

    private static void Fill(string path)
    {
        byte[] chunk = new byte[64 * 1024];
        // Unbuffered: a buffered stream would flush again on Dispose and throw ENOSPC there.
        using var filler = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0);
        try
        {
            while (true)
            {
                filler.Write(chunk);
                filler.Flush(flushToDisk: true);
            }
        }
        catch (IOException)
        {
            // ENOSPC: the disk is full.
        }

        try
        {
            // Use up the last partial chunk too.
            while (true)
            {
                filler.Write(chunk, 0, 512);
                filler.Flush(flushToDisk: true);
            }
        }
        catch (IOException)
        {
        }
    }

    [Test]
    public async Task A_revocation_on_a_full_disk_is_503_and_the_next_one_after_freeing_it_succeeds()
    {
        Directory.CreateDirectory(Mount);
        if (Environment.UserName != "root" || Run("mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", Mount) != 0)
        {
            Skip.Test("needs root to mount a small tmpfs for the state root");
        }

        string project = _dir.File("proj");
        Directory.CreateDirectory(project);
        await using DaemonProcess daemon = await DaemonProcess.StartAsync(Path.Combine(Mount, "state"), ["--project-root", project], new Dictionary<string, string?> { ["XDG_CONFIG_HOME"] = _dir.File("xdg") });
        using HttpClient admin = daemon.Client();
        (await admin.PostAsync("/v1/runtime/auth/subjects/agent:warmup/revoke", null)).EnsureSuccessStatusCode();

        string filler = Path.Combine(Mount, "filler");
        Fill(filler);
        HttpResponseMessage full = null!;
        for (int i = 0; i < 200; i++)
        {
            // Each revocation appends a journal line; the first that does not fit is refused.
            full = await admin.PostAsync($"/v1/runtime/auth/subjects/agent:full-{i}/revoke", null);
            if (full.StatusCode != HttpStatusCode.OK)
            {
                break;
            }
        }

        string fullBody = await full.Content.ReadAsStringAsync();
        File.Delete(filler);
        HttpResponseMessage after = await admin.PostAsync("/v1/runtime/auth/subjects/agent:after/revoke", null);
        HttpResponseMessage check = await admin.GetAsync("/v1/runtime/auth/subjects/agent:after");

        await Assert.That(full.StatusCode).IsEqualTo(HttpStatusCode.ServiceUnavailable).Because(fullBody);
        await Assert.That(JsonDocument.Parse(fullBody).RootElement.GetProperty("code").GetString()).IsEqualTo("broker_state_disk_full");
        await Assert.That(after.StatusCode).IsEqualTo(HttpStatusCode.OK).Because(await after.Content.ReadAsStringAsync());
        await Assert.That(JsonDocument.Parse(await check.Content.ReadAsStringAsync()).RootElement.GetProperty("revoked").GetBoolean()).IsTrue();
    }
}
