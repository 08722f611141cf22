using System.Text.Json;
using Kheish.Core.Broker;
using Kheish.Core.Storage;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Broker;

/// <summary>
/// <c>runtime auth ...</c> on the real binary. State is seeded through the Core broker (as
/// the daemon would leave it), the CLI acts on it, and a fresh broker reads the result.
/// </summary>
public sealed class RuntimeAuthCliTests : IDisposable
{
    private static readonly RouteAudience OpenAi = new("openai", "openai.default");
    private static readonly SubjectId Agent = SubjectId.ForAgent("coder");
    private readonly TempDir _dir = new();

    private StateRoot Root => new(_dir.StateRoot);

    [Test]
    public async Task Offline_revoke_lease_is_seen_by_the_next_broker_and_leaks_no_token()
    {
        IssuedLease issued = await Seed();

        CliResult r = await Run("revoke-lease", issued.Lease.Id, "--offline", "--output", "json");

        await Assert.That(r.ExitCode).IsEqualTo(0);
        using JsonDocument doc = JsonDocument.Parse(r.Stdout);
        await Assert.That(doc.RootElement.GetProperty("lease").GetProperty("id").GetString()).IsEqualTo(issued.Lease.Id);
        await Assert.That(doc.RootElement.GetProperty("revoked").GetBoolean()).IsTrue();
        await Assert.That(doc.RootElement.GetProperty("active").GetBoolean()).IsFalse();
        Canary.AssertAbsent(issued.Token, r.All, "CLI output");
        await Assert.That(r.Stdout).DoesNotContain("digest");
        await Assert.That(OpenBroker().Validate(issued.Token, OpenAi).Error?.Code).IsEqualTo(BrokerErrors.LeaseRevoked);
    }

    [Test]
    public async Task Offline_lease_view_shows_the_lease_without_its_digest()
    {
        IssuedLease issued = await Seed();

        CliResult r = await Run("lease", issued.Lease.Id, "--offline");

        await Assert.That(r.ExitCode).IsEqualTo(0);
        await Assert.That(r.Stdout).Contains("route openai via slot openai.default");
        await Assert.That(r.Stdout).Contains("active            yes");
        await Assert.That(r.All).DoesNotContain(LeaseToken.Encode(LeaseToken.Digest(issued.Token)));
        Canary.AssertAbsent(issued.Token, r.All, "CLI output");
    }

    [Test]
    public async Task Offline_revoke_subject_reports_its_leases_and_persists_the_tombstone()
    {
        IssuedLease issued = await Seed();

        CliResult r = await Run("revoke-subject", "agent:coder", "--offline", "-o", "json");

        await Assert.That(r.ExitCode).IsEqualTo(0);
        await Assert.That(r.Stdout.Trim()).IsEqualTo($"{{\"subject_id\":\"agent:coder\",\"current_epoch\":1,\"revoked_leases\":[\"{issued.Lease.Id}\"]}}");
        CliResult view = await Run("subject", "agent:coder", "--offline", "-o", "json");
        await Assert.That(view.Stdout.Trim()).IsEqualTo("{\"subject_id\":\"agent:coder\",\"current_epoch\":1,\"revoked\":true}");
        await Assert.That(OpenBroker().IsSubjectRevoked(Agent)).IsTrue();
    }

    [Test]
    public async Task Offline_revoke_slot_returns_the_slot_and_revoked_leases()
    {
        IssuedLease issued = await Seed();

        CliResult r = await Run("revoke-slot", "openai.default", "--offline", "-o", "json");

        await Assert.That(r.ExitCode).IsEqualTo(0);
        await Assert.That(r.Stdout.Trim()).IsEqualTo($"{{\"slot_id\":\"openai.default\",\"revoked_leases\":[\"{issued.Lease.Id}\"]}}");
        await Assert.That(OpenBroker().CheckSlot("openai.default")?.Code).IsEqualTo(BrokerErrors.SlotRevoked);
    }

    [Test]
    public async Task Offline_revocation_is_refused_while_a_daemon_holds_the_lock()
    {
        IssuedLease issued = await Seed();
        using DaemonLock held = DaemonLock.TryAcquire(Root, "test").Value;

        CliResult r = await Run("revoke-lease", issued.Lease.Id, "--offline");

        await Assert.That(r.ExitCode).IsEqualTo(6);
        await Assert.That(r.Stderr).Contains("drop --offline");
        await Assert.That(OpenBroker().Validate(issued.Token, OpenAi).IsOk).IsTrue();
    }

    [Test]
    public async Task Offline_read_works_while_a_daemon_holds_the_lock()
    {
        IssuedLease issued = await Seed();
        using DaemonLock held = DaemonLock.TryAcquire(Root, "test").Value;

        CliResult r = await Run("lease", issued.Lease.Id, "--offline", "-o", "json");

        await Assert.That(r.ExitCode).IsEqualTo(0);
    }

    [Test]
    public async Task Without_offline_the_verb_exits_3_and_suggests_offline()
    {
        CliResult r = await Run("subject", "agent:coder");

        await Assert.That(r.ExitCode).IsEqualTo(3);
        await Assert.That(r.Stderr).Contains("--offline");
    }

    [Test]
    public async Task Unknown_lease_exits_5_with_a_json_error()
    {
        CliResult r = await Run("lease", "route-lease-0123456789abcdef0123456789abcdef", "--offline", "-o", "json");

        await Assert.That(r.ExitCode).IsEqualTo(5);
        using JsonDocument doc = JsonDocument.Parse(r.Stdout);
        await Assert.That(doc.RootElement.GetProperty("error").GetProperty("code").GetString()).IsEqualTo("lease_not_found");
    }

    [Test]
    public async Task Malformed_ids_exit_2_without_touching_state()
    {
        CliResult lease = await Run("revoke-lease", "not-a-lease", "--offline");
        CliResult subject = await Run("revoke-subject", "robot:x", "--offline");
        CliResult slot = await Run("revoke-slot", "a/b", "--offline");

        await Assert.That(new[] { lease.ExitCode, subject.ExitCode, slot.ExitCode }).IsEquivalentTo([2, 2, 2], CollectionOrdering.Matching);
        await Assert.That(File.Exists(Root.BrokerStateFile)).IsFalse();
    }

    [Test]
    public async Task Unreadable_state_file_exits_1_naming_the_file()
    {
        Directory.CreateDirectory(Root.AuthDirectory);
        File.WriteAllText(Root.BrokerStateFile, "{not json");

        CliResult r = await Run("subject", "agent:coder", "--offline");

        await Assert.That(r.ExitCode).IsEqualTo(1);
        await Assert.That(r.Stderr).Contains(Root.BrokerStateFile);
    }

    private async Task<IssuedLease> Seed()
    {
        CredentialBroker broker = OpenBroker();
        IssuedLease issued = broker.IssueRouteLease(Agent, CredentialScope.Unrestricted, "openai", "openai.default").Value;
        await Assert.That(broker.Flush()).IsNull();
        return issued;
    }

    private CredentialBroker OpenBroker() => CredentialBroker.Open(Root, PlainStateFileCodec.Instance).Value;

    private Task<CliResult> Run(params string[] args) =>
        Support.Cli.RunAsync(["runtime", "auth", .. args, "--state-root", _dir.StateRoot]);

    public void Dispose() => _dir.Dispose();
}
