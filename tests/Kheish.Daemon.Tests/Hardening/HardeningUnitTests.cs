using System.Net;
using System.Text;
using Kheish.Core.Audit;
using Kheish.Core.Broker;
using Kheish.Core.Crypto;
using Kheish.Core.Egress;
using Kheish.Core.Errors;
using Kheish.Core.Routes;
using Kheish.Core.Storage;
using Kheish.Daemon.Http;
using Kheish.Daemon.Http.ControlPlane;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Hardening;

/// <summary>Issue 12, in process: the rules behind each hardening fix, one behaviour per test.</summary>
public sealed class HardeningUnitTests
{
    // ---- failure limiter keys ------------------------------------------------------------

    [Test]
    [Arguments("127.0.0.1", "127.45.6.7")]
    [Arguments("127.0.0.1", "::1")]
    [Arguments("10.1.2.3", "10.1.2.200")]
    [Arguments("2001:db8:1:2::1", "2001:db8:1:2:ffff::9")]
    public async Task Addresses_of_one_network_share_a_limiter_key(string a, string b)
    {
        await Assert.That(FailureRateLimiter.KeyOf(IPAddress.Parse(b))).IsEqualTo(FailureRateLimiter.KeyOf(IPAddress.Parse(a)));
    }

    [Test]
    [Arguments("10.1.2.3", "10.1.3.3")]
    [Arguments("2001:db8:1:2::1", "2001:db8:1:3::1")]
    public async Task Addresses_of_different_networks_have_different_limiter_keys(string a, string b)
    {
        await Assert.That(FailureRateLimiter.KeyOf(IPAddress.Parse(b))).IsNotEqualTo(FailureRateLimiter.KeyOf(IPAddress.Parse(a)));
    }

    [Test]
    public async Task Rotating_loopback_source_addresses_does_not_walk_past_the_limiter()
    {
        var limiter = new FailureRateLimiter(TimeProvider.System, limit: 5);
        for (int i = 1; i <= 5; i++)
        {
            limiter.RecordFailure(IPAddress.Parse($"127.0.{i}.{i}"));
        }

        await Assert.That(limiter.RetryAfterSeconds(IPAddress.Parse("127.9.9.9"))).IsNotNull();
    }

    // ---- Host check ----------------------------------------------------------------------

    [Test]
    [Arguments("127.0.0.1:4000", true)]
    [Arguments("localhost:4000", true)]
    [Arguments("LOCALHOST", true)]
    [Arguments("[::1]:4000", true)]
    [Arguments("127.8.8.8", true)]
    [Arguments("proxy.internal:443", true)]
    [Arguments("attacker.example", false)]
    [Arguments("attacker.example:4000", false)]
    [Arguments("localhost.attacker.example", false)]
    [Arguments("10.0.0.5:4000", false)]
    [Arguments("", false)]
    public async Task Only_loopback_the_bind_address_and_allowed_names_are_served_on_a_loopback_bind(string host, bool allowed)
    {
        var policy = new HostPolicy(IPAddress.Loopback, ["proxy.internal"]);

        await Assert.That(policy.IsAllowed(host.Length == 0 ? default : new Microsoft.AspNetCore.Http.HostString(host))).IsEqualTo(allowed);
    }

    [Test]
    public async Task A_wildcard_bind_accepts_ip_literals_but_not_names()
    {
        var policy = new HostPolicy(IPAddress.Any, []);

        await Assert.That(policy.IsAllowed(new Microsoft.AspNetCore.Http.HostString("10.0.0.5:4000"))).IsTrue();
        await Assert.That(policy.IsAllowed(new Microsoft.AspNetCore.Http.HostString("rebound.example:4000"))).IsFalse();
    }

    // ---- plane detection -----------------------------------------------------------------

    [Test]
    [Arguments("/AGENT/v1/whoami", "Agent")]
    [Arguments("/Agent/v1/routes/x/y", "Agent")]
    [Arguments("/MCP", "Agent")]
    [Arguments("/HEALTHZ", "Public")]
    [Arguments("/V1/status", "Control")]
    public async Task Plane_detection_ignores_case_as_routing_does(string path, string plane)
    {
        await Assert.That(Planes.Of(new Microsoft.AspNetCore.Http.PathString(path)).ToString()).IsEqualTo(plane);
    }

    // ---- JSON body errors ----------------------------------------------------------------

    [Test]
    [Arguments("{\"address\":\"10.0.0.1\"}", "unknown field `address` (expected: `entry`, `allow_empty`)")]
    [Arguments("{\"entry\":5}", "`entry` must be a string")]
    [Arguments("{\"entry\":\"x\",\"allow_empty\":\"yes\"}", "`allow_empty` must be true or false")]
    [Arguments("[1,2]", "the request body must be a JSON object with `entry`, `allow_empty`")]
    [Arguments("{\"entry\":", "malformed JSON at line 1")]
    public async Task Body_errors_say_what_is_wrong(string body, string expected)
    {
        Result<IpEntryRequest> r = RequestBody.Parse(Encoding.UTF8.GetBytes(body), HttpJsonContext.Default.IpEntryRequest);

        await Assert.That(r.IsOk).IsFalse();
        await Assert.That(r.Error!.Message).Contains(expected);
        await Assert.That(r.Error!.Message).DoesNotContain("System.");
        await Assert.That(r.Error!.Message).DoesNotContain("Kheish.");
    }

    [Test]
    public async Task An_empty_body_is_named_as_empty_with_the_expected_fields()
    {
        Result<ModeRequest> r = RequestBody.Parse("  "u8, HttpJsonContext.Default.ModeRequest);

        await Assert.That(r.Error!.Code).IsEqualTo("empty_body");
        await Assert.That(r.Error!.Message).IsEqualTo("the request body is empty; expected a JSON object with `mode`");
    }

    [Test]
    public async Task A_wrong_type_in_a_nested_scope_names_the_nested_field()
    {
        Result<SessionCreateRequest> r = RequestBody.Parse(
            "{\"scope\":{\"route_allow\":\"openai\"}}"u8, HttpJsonContext.Default.SessionCreateRequest);

        await Assert.That(r.IsOk).IsFalse();
        await Assert.That(r.Error!.Message).Contains("`scope.route_allow` must be an array of strings");
    }

    // ---- echoed key redaction ------------------------------------------------------------

    [Test]
    public async Task A_key_split_across_chunks_is_redacted()
    {
        byte[] key = "sk-live-0123456789abcdef"u8.ToArray();
        var redactor = new EchoRedactor(key);
        var output = new List<byte>();

        output.AddRange(redactor.Process("{\"echo\":\"sk-live-0123"u8));
        output.AddRange(redactor.Process("456789abcdef\"}\n"u8));
        output.AddRange(redactor.Flush());

        string text = Encoding.UTF8.GetString([.. output]);
        await Assert.That(text).DoesNotContain("sk-live-0123456789abcdef");
        await Assert.That(text).IsEqualTo("{\"echo\":\"" + new string('*', key.Length) + "\"}\n");
    }

    [Test]
    public async Task A_chunk_ending_in_a_newline_is_relayed_whole_at_once()
    {
        var redactor = new EchoRedactor("sk-secret-key-value"u8.ToArray());

        ArraySegment<byte> now = redactor.Process("data: {\"delta\":\"hi\"}\n\n"u8);

        await Assert.That(Encoding.UTF8.GetString(now)).IsEqualTo("data: {\"delta\":\"hi\"}\n\n");
    }

    [Test]
    public async Task A_tail_that_only_starts_like_the_key_is_released_at_the_end()
    {
        var redactor = new EchoRedactor("sk-secret"u8.ToArray());

        ArraySegment<byte> now = redactor.Process("value sk-se"u8);
        ArraySegment<byte> rest = redactor.Flush();

        await Assert.That(Encoding.UTF8.GetString(now)).IsEqualTo("value ");
        await Assert.That(Encoding.UTF8.GetString(rest)).IsEqualTo("sk-se");
        await Assert.That(redactor.Redacted).IsFalse();
    }

    [Test]
    public async Task Masking_in_place_gives_what_the_copying_path_gives_for_any_chunking()
    {
        byte[] key = "sk-live-0123456789abcdef"u8.ToArray();
        var random = new Random(16);
        for (int round = 0; round < 500; round++)
        {
            // A body with the key at random places, some of them overlapping chunk ends, and near misses.
            var body = new List<byte>();
            for (int part = 0; part < random.Next(1, 8); part++)
            {
                body.AddRange(Encoding.ASCII.GetBytes(new string('x', random.Next(0, 40))));
                body.AddRange(random.Next(3) == 0 ? key.AsSpan(0, random.Next(1, key.Length)).ToArray() : key);
            }

            byte[] whole = [.. body];
            var copying = new EchoRedactor(key);
            var inPlace = new EchoRedactor(key);
            var expected = new List<byte>();
            var actual = new List<byte>();
            for (int at = 0; at < whole.Length;)
            {
                int n = Math.Min(random.Next(1, 30), whole.Length - at);
                expected.AddRange(copying.Process(whole.AsSpan(at, n)));
                byte[] buffer = new byte[64];
                whole.AsSpan(at, n).CopyTo(buffer.AsSpan(8));
                actual.AddRange(inPlace.ProcessInPlace(new ArraySegment<byte>(buffer, 8, n)));
                at += n;
            }

            expected.AddRange(copying.Flush());
            actual.AddRange(inPlace.Flush());
            await Assert.That(actual.SequenceEqual(expected)).IsTrue().Because($"round {round}");
            await Assert.That(actual.Count).IsEqualTo(whole.Length);
            await Assert.That(Encoding.ASCII.GetString([.. actual])).DoesNotContain("sk-live-0123456789abcdef");
            await Assert.That(inPlace.Redacted).IsEqualTo(copying.Redacted);
        }
    }

    // ---- model policy --------------------------------------------------------------------

    private static RouteDefinition Route(ProviderDriver driver, ModelSupport support) => new(
        RouteId.Parse("r1"), driver, "gpt-4o-mini", support, new RouteCredential.EnvApiKey("X"), driver.DefaultBaseUrl, null, null, null, []);

    [Test]
    public async Task A_body_without_model_gets_the_default_model()
    {
        Result<byte[]> r = ModelPolicy.Apply(Route(ProviderDriver.OpenAI, ModelSupport.Family), "{\"messages\":[]}"u8.ToArray());

        await Assert.That(Encoding.UTF8.GetString(r.Value)).IsEqualTo("{\"model\":\"gpt-4o-mini\",\"messages\":[]}");
    }

    [Test]
    public async Task An_empty_object_gets_the_default_model()
    {
        Result<byte[]> r = ModelPolicy.Apply(Route(ProviderDriver.OpenAI, ModelSupport.Family), "{ }"u8.ToArray());

        await Assert.That(Encoding.UTF8.GetString(r.Value).Replace(" ", "", StringComparison.Ordinal)).IsEqualTo("{\"model\":\"gpt-4o-mini\"}");
    }

    [Test]
    public async Task A_model_of_another_family_is_refused_naming_the_route_and_its_family()
    {
        Result<byte[]> r = ModelPolicy.Apply(Route(ProviderDriver.OpenAI, ModelSupport.Family), "{\"model\":\"claude-sonnet-4\"}"u8.ToArray());

        await Assert.That(r.Error!.Code).IsEqualTo("model_not_allowed");
        await Assert.That(r.Error!.Message).Contains("route `r1` is a openai route");
    }

    [Test]
    public async Task Model_support_any_allows_every_model()
    {
        byte[] body = "{\"model\":\"claude-sonnet-4\"}"u8.ToArray();

        Result<byte[]> r = ModelPolicy.Apply(Route(ProviderDriver.OpenAI, ModelSupport.Any), body);

        await Assert.That(r.Value).IsSameReferenceAs(body);
    }

    // ---- bucket names --------------------------------------------------------------------

    [Test]
    [Arguments("session-victim")]
    [Arguments("SESSION-victim")]
    [Arguments("unscoped")]
    [Arguments("a/b")]
    [Arguments("..")]
    [Arguments("run?x")]
    [Arguments("run%2Fx")]
    public async Task Run_ids_that_alias_another_bucket_or_cannot_be_read_back_are_refused(string runId)
    {
        await Assert.That(BucketName.RunIdProblem(runId)).IsNotNull();
    }

    [Test]
    [Arguments("run-1")]
    [Arguments("ci:build@42.3_x")]
    public async Task Ordinary_run_ids_are_accepted(string runId)
    {
        await Assert.That(BucketName.RunIdProblem(runId)).IsNull();
    }

    // ---- auth audit log ------------------------------------------------------------------

    [Test]
    public async Task The_auth_audit_log_rotates_and_keeps_three_files()
    {
        using var dir = new TempDir();
        var root = new StateRoot(dir.StateRoot);
        using (var log = new AuthAuditLog(root, rotateBytes: 4096))
        {
            for (int i = 0; i < 500; i++)
            {
                log.Record(new AuthAuditEvent(i, "cors_rejected", "GET", "/" + new string('a', 5000), "origin_not_allowed", new string('o', 5000)));
            }
        }

        string[] files = Directory.GetFiles(Path.GetDirectoryName(root.ControlPlaneAuditFile)!, "audit.jsonl*");
        await Assert.That(files.Length).IsEqualTo(3);
        await Assert.That(files.Select(f => new FileInfo(f).Length)).All(length => length <= 4096);
        await Assert.That(File.ReadAllLines(root.ControlPlaneAuditFile)).All(l => Encoding.UTF8.GetByteCount(l) <= AuthAuditLog.MaxEntryBytes);
    }

    // ---- session revocation cascade ------------------------------------------------------

    [Test]
    public async Task Revoking_a_session_revokes_its_descendants_durably()
    {
        using var dir = new TempDir();
        var root = new StateRoot(dir.StateRoot);
        root.EnsureExists();
        IStateFileCodec codec = EnvelopeStateFileCodec.For(null, root);
        using (CredentialBroker broker = CredentialBroker.Open(root, codec).Value)
        {
            SessionRegistry sessions = SessionRegistry.Open(root, codec, broker).Value;
            _ = sessions.Create("parent", new CredentialScope(), null).Value;
            _ = sessions.Create("child", new CredentialScope(), "parent").Value;
            _ = sessions.Create("grandchild", new CredentialScope(), "child").Value;

            SubjectRevocation r = SessionCascade.Revoke(broker, sessions, SubjectId.ForSession("parent")).Value;

            await Assert.That(string.Join(",", r.CascadedSubjects!)).IsEqualTo("session:child,session:grandchild");
        }

        using CredentialBroker reopened = CredentialBroker.Open(root, codec).Value;
        await Assert.That(reopened.IsSubjectRevoked(SubjectId.ForSession("grandchild"))).IsTrue();
    }

    [Test]
    public async Task A_revoked_session_id_cannot_be_created_again()
    {
        using var dir = new TempDir();
        var root = new StateRoot(dir.StateRoot);
        root.EnsureExists();
        IStateFileCodec codec = EnvelopeStateFileCodec.For(null, root);
        using CredentialBroker broker = CredentialBroker.Open(root, codec).Value;
        SessionRegistry sessions = SessionRegistry.Open(root, codec, broker).Value;
        _ = broker.RevokeSubject(SubjectId.ForSession("pre")).Value;

        Result<SessionRecord> r = sessions.Create("pre", new CredentialScope(), null);

        await Assert.That(r.Error!.Code).IsEqualTo(BrokerErrors.SubjectRevoked);
        await Assert.That(r.Error!.Kind).IsEqualTo(ErrorKind.Conflict);
    }

    [Test]
    public async Task A_session_with_a_revoked_grandparent_has_a_revoked_ancestor()
    {
        using var dir = new TempDir();
        var root = new StateRoot(dir.StateRoot);
        root.EnsureExists();
        IStateFileCodec codec = EnvelopeStateFileCodec.For(null, root);
        using CredentialBroker broker = CredentialBroker.Open(root, codec).Value;
        SessionRegistry sessions = SessionRegistry.Open(root, codec, broker).Value;
        _ = sessions.Create("g", new CredentialScope(), null).Value;
        _ = sessions.Create("p", new CredentialScope(), "g").Value;
        SessionRecord c = sessions.Create("c", new CredentialScope(), "p").Value;
        _ = broker.RevokeSubject(SubjectId.ForSession("g")).Value;

        await Assert.That(SessionCascade.RevokedAncestor(sessions, broker, c)).IsEqualTo("session:g");
    }

    // ---- plain I/O reasons ---------------------------------------------------------------

    [Test]
    public async Task Io_reasons_are_plain_words()
    {
        await Assert.That(IoReason.Of(new FileNotFoundException("x"))).IsEqualTo("file not found");
        await Assert.That(IoReason.Of(new DirectoryNotFoundException("x"))).IsEqualTo("directory not found");
        await Assert.That(IoReason.Of(new IOException("x", 28))).IsEqualTo("no space left on the device");
    }
}
