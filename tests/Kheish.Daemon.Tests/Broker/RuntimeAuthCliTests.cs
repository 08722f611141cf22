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

    [Fact]
    public async Task Offline_revoke_lease_is_seen_by_the_next_broker_and_leaks_no_token()
    {
        IssuedLease issued = Seed();

        CliResult r = await Run("revoke-lease", issued.Lease.Id, "--offline", "--output", "json");

        Assert.Equal(0, r.ExitCode);
        using JsonDocument doc = JsonDocument.Parse(r.Stdout);
        Assert.Equal(issued.Lease.Id, doc.RootElement.GetProperty("lease").GetProperty("id").GetString());
        Assert.True(doc.RootElement.GetProperty("revoked").GetBoolean());
        Assert.False(doc.RootElement.GetProperty("active").GetBoolean());
        Canary.AssertAbsent(issued.Token, r.All, "CLI output");
        Assert.DoesNotContain("digest", r.Stdout);
        Assert.Equal(BrokerErrors.LeaseRevoked, OpenBroker().Validate(issued.Token, OpenAi).Error?.Code);
    }

    [Fact]
    public async Task Offline_lease_view_shows_the_lease_without_its_digest()
    {
        IssuedLease issued = Seed();

        CliResult r = await Run("lease", issued.Lease.Id, "--offline");

        Assert.Equal(0, r.ExitCode);
        Assert.Contains("route openai via slot openai.default", r.Stdout);
        Assert.Contains("active            yes", r.Stdout);
        Assert.DoesNotContain(LeaseToken.Encode(LeaseToken.Digest(issued.Token)), r.All);
        Canary.AssertAbsent(issued.Token, r.All, "CLI output");
    }

    [Fact]
    public async Task Offline_revoke_subject_reports_its_leases_and_persists_the_tombstone()
    {
        IssuedLease issued = Seed();

        CliResult r = await Run("revoke-subject", "agent:coder", "--offline", "-o", "json");

        Assert.Equal(0, r.ExitCode);
        Assert.Equal(
            $"{{\"subject_id\":\"agent:coder\",\"current_epoch\":1,\"revoked_leases\":[\"{issued.Lease.Id}\"]}}",
            r.Stdout.Trim());
        CliResult view = await Run("subject", "agent:coder", "--offline", "-o", "json");
        Assert.Equal("{\"subject_id\":\"agent:coder\",\"current_epoch\":1,\"revoked\":true}", view.Stdout.Trim());
        Assert.True(OpenBroker().IsSubjectRevoked(Agent));
    }

    [Fact]
    public async Task Offline_revoke_slot_returns_the_slot_and_revoked_leases()
    {
        IssuedLease issued = Seed();

        // The slot exists only in the broker here, not in the store: revoking it is pre-emptive (--force).
        CliResult r = await Run("revoke-slot", "openai.default", "--offline", "--force", "-o", "json");

        Assert.Equal(0, r.ExitCode);
        Assert.Equal($"{{\"slot_id\":\"openai.default\",\"revoked_leases\":[\"{issued.Lease.Id}\"]}}", r.Stdout.Trim());
        Assert.Equal(BrokerErrors.SlotRevoked, OpenBroker().CheckSlot("openai.default")?.Code);
    }

    [Fact]
    public async Task Offline_revocation_is_refused_while_a_daemon_holds_the_lock()
    {
        IssuedLease issued = Seed();
        using DaemonLock held = DaemonLock.TryAcquire(Root, "test").Value;

        CliResult r = await Run("revoke-lease", issued.Lease.Id, "--offline");

        Assert.Equal(6, r.ExitCode);
        Assert.Contains("drop --offline", r.Stderr);
        Assert.True(OpenBroker().Validate(issued.Token, OpenAi).IsOk);
    }

    [Fact]
    public async Task Offline_read_works_while_a_daemon_holds_the_lock()
    {
        IssuedLease issued = Seed();
        using DaemonLock held = DaemonLock.TryAcquire(Root, "test").Value;

        CliResult r = await Run("lease", issued.Lease.Id, "--offline", "-o", "json");

        Assert.Equal(0, r.ExitCode);
    }

    [Fact]
    public async Task Without_offline_the_verb_exits_3_and_suggests_offline()
    {
        CliResult r = await Run("subject", "agent:coder");

        Assert.Equal(3, r.ExitCode);
        Assert.Contains("--offline", r.Stderr);
    }

    [Fact]
    public async Task Unknown_lease_exits_5_with_a_json_error()
    {
        CliResult r = await Run("lease", "route-lease-0123456789abcdef0123456789abcdef", "--offline", "-o", "json");

        Assert.Equal(5, r.ExitCode);
        using JsonDocument doc = JsonDocument.Parse(r.Stdout);
        Assert.Equal("lease_not_found", doc.RootElement.GetProperty("error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task Malformed_ids_exit_2_without_touching_state()
    {
        CliResult lease = await Run("revoke-lease", "not-a-lease", "--offline");
        CliResult subject = await Run("revoke-subject", "robot:x", "--offline");
        CliResult slot = await Run("revoke-slot", "a/b", "--offline");

        Assert.Equal([2, 2, 2], new[] { lease.ExitCode, subject.ExitCode, slot.ExitCode });
        Assert.False(File.Exists(Root.BrokerStateFile));
    }

    [Fact]
    public async Task Unreadable_state_file_exits_1_naming_the_file()
    {
        Directory.CreateDirectory(Root.AuthDirectory);
        File.WriteAllText(Root.BrokerStateFile, "{not json");

        CliResult r = await Run("subject", "agent:coder", "--offline");

        Assert.Equal(1, r.ExitCode);
        Assert.Contains(Root.BrokerStateFile, r.Stderr);
    }

    private IssuedLease Seed()
    {
        CredentialBroker broker = OpenBroker();
        IssuedLease issued = broker.IssueRouteLease(Agent, CredentialScope.Unrestricted, "openai", "openai.default").Value;
        Assert.Null(broker.Flush());
        return issued;
    }

    private CredentialBroker OpenBroker() => CredentialBroker.Open(Root, PlainStateFileCodec.Instance).Value;

    private Task<CliResult> Run(params string[] args) =>
        Support.Cli.RunAsync(["runtime", "auth", .. args, "--state-root", _dir.StateRoot]);

    public void Dispose() => _dir.Dispose();
}
