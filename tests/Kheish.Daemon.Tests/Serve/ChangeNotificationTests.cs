using System.Net;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Serve;

/// <summary>
/// serve skips per-request stat calls while inotify reports no change (issue 16); every rotation
/// must still take effect on the very next request, with no delay between the write and the call.
/// </summary>
public sealed class ChangeNotificationTests
{
    private readonly TempDir _dir = new();
    private readonly string _admin = "adm-" + Guid.NewGuid().ToString("N");
    private DaemonProcess _daemon = null!;

    [Before(Test)]
    public async Task InitializeAsync()
    {
        File.WriteAllText(_dir.File("admin.token"), _admin);
        _daemon = await DaemonProcess.StartAsync(_dir.StateRoot, ["--http-admin-token-file", _dir.File("admin.token")]);
    }

    [After(Test)]
    public async Task DisposeAsync()
    {
        await _daemon.DisposeAsync();
        _dir.Dispose();
    }

    [Test]
    public async Task Each_of_many_back_to_back_token_rotations_is_seen_by_the_very_next_request()
    {
        string current = _admin;
        for (int i = 0; i < 20; i++)
        {
            // Same length every time and, on odd rounds, written through a rename: neither the
            // size nor the path gives the change away, only the notification (or the stamp).
            string next = "adm-" + Guid.NewGuid().ToString("N");
            if (i % 2 == 0)
            {
                File.WriteAllText(_dir.File("admin.token"), next);
            }
            else
            {
                File.WriteAllText(_dir.File("admin.token.tmp"), next);
                File.Move(_dir.File("admin.token.tmp"), _dir.File("admin.token"), overwrite: true);
            }

            using HttpClient stale = _daemon.Client(current);
            using HttpClient fresh = _daemon.Client(next);
            await Assert.That((await stale.GetAsync("/v1/status")).StatusCode).IsEqualTo(HttpStatusCode.Unauthorized);
            await Assert.That((await fresh.GetAsync("/v1/status")).StatusCode).IsEqualTo(HttpStatusCode.OK);
            current = next;
        }
    }

    [Test]
    public async Task Emptying_the_token_file_refuses_the_very_next_request()
    {
        using HttpClient client = _daemon.Client(_admin);
        await Assert.That((await client.GetAsync("/v1/status")).StatusCode).IsEqualTo(HttpStatusCode.OK);

        File.WriteAllText(_dir.File("admin.token"), string.Empty);

        await Assert.That((await client.GetAsync("/v1/status")).StatusCode).IsEqualTo(HttpStatusCode.Unauthorized);
    }
}
