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

    [Theory]
    [InlineData("127.0.0.1", "127.45.6.7")]
    [InlineData("127.0.0.1", "::1")]
    [InlineData("10.1.2.3", "10.1.2.200")]
    [InlineData("2001:db8:1:2::1", "2001:db8:1:2:ffff::9")]
    public void Addresses_of_one_network_share_a_limiter_key(string a, string b)
    {
        Assert.Equal(FailureRateLimiter.KeyOf(IPAddress.Parse(a)), FailureRateLimiter.KeyOf(IPAddress.Parse(b)));
    }

    [Theory]
    [InlineData("10.1.2.3", "10.1.3.3")]
    [InlineData("2001:db8:1:2::1", "2001:db8:1:3::1")]
    public void Addresses_of_different_networks_have_different_limiter_keys(string a, string b)
    {
        Assert.NotEqual(FailureRateLimiter.KeyOf(IPAddress.Parse(a)), FailureRateLimiter.KeyOf(IPAddress.Parse(b)));
    }

    [Fact]
    public void Rotating_loopback_source_addresses_does_not_walk_past_the_limiter()
    {
        var limiter = new FailureRateLimiter(TimeProvider.System, limit: 5);
        for (int i = 1; i <= 5; i++)
        {
            limiter.RecordFailure(IPAddress.Parse($"127.0.{i}.{i}"));
        }

        Assert.NotNull(limiter.RetryAfterSeconds(IPAddress.Parse("127.9.9.9")));
    }

    // ---- Host check ----------------------------------------------------------------------

    [Theory]
    [InlineData("127.0.0.1:4000", true)]
    [InlineData("localhost:4000", true)]
    [InlineData("LOCALHOST", true)]
    [InlineData("[::1]:4000", true)]
    [InlineData("127.8.8.8", true)]
    [InlineData("proxy.internal:443", true)]
    [InlineData("attacker.example", false)]
    [InlineData("attacker.example:4000", false)]
    [InlineData("localhost.attacker.example", false)]
    [InlineData("10.0.0.5:4000", false)]
    [InlineData("", false)]
    public void Only_loopback_the_bind_address_and_allowed_names_are_served_on_a_loopback_bind(string host, bool allowed)
    {
        var policy = new HostPolicy(IPAddress.Loopback, ["proxy.internal"]);

        Assert.Equal(allowed, policy.IsAllowed(host.Length == 0 ? default : new Microsoft.AspNetCore.Http.HostString(host)));
    }

    [Fact]
    public void A_wildcard_bind_accepts_ip_literals_but_not_names()
    {
        var policy = new HostPolicy(IPAddress.Any, []);

        Assert.True(policy.IsAllowed(new Microsoft.AspNetCore.Http.HostString("10.0.0.5:4000")));
        Assert.False(policy.IsAllowed(new Microsoft.AspNetCore.Http.HostString("rebound.example:4000")));
    }

    // ---- plane detection -----------------------------------------------------------------

    [Theory]
    [InlineData("/AGENT/v1/whoami", "Agent")]
    [InlineData("/Agent/v1/routes/x/y", "Agent")]
    [InlineData("/MCP", "Agent")]
    [InlineData("/HEALTHZ", "Public")]
    [InlineData("/V1/status", "Control")]
    public void Plane_detection_ignores_case_as_routing_does(string path, string plane)
    {
        Assert.Equal(plane, Planes.Of(new Microsoft.AspNetCore.Http.PathString(path)).ToString());
    }

    // ---- JSON body errors ----------------------------------------------------------------

    [Theory]
    [InlineData("{\"address\":\"10.0.0.1\"}", "unknown field `address` (expected: `entry`, `allow_empty`)")]
    [InlineData("{\"entry\":5}", "`entry` must be a string")]
    [InlineData("{\"entry\":\"x\",\"allow_empty\":\"yes\"}", "`allow_empty` must be true or false")]
    [InlineData("[1,2]", "the request body must be a JSON object with `entry`, `allow_empty`")]
    [InlineData("{\"entry\":", "malformed JSON at line 1")]
    public void Body_errors_say_what_is_wrong(string body, string expected)
    {
        Result<IpEntryRequest> r = RequestBody.Parse(Encoding.UTF8.GetBytes(body), HttpJsonContext.Default.IpEntryRequest);

        Assert.False(r.IsOk);
        Assert.Contains(expected, r.Error!.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("System.", r.Error!.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("Kheish.", r.Error!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_empty_body_is_named_as_empty_with_the_expected_fields()
    {
        Result<ModeRequest> r = RequestBody.Parse("  "u8, HttpJsonContext.Default.ModeRequest);

        Assert.Equal("empty_body", r.Error!.Code);
        Assert.Equal("the request body is empty; expected a JSON object with `mode`", r.Error!.Message);
    }

    [Fact]
    public void A_wrong_type_in_a_nested_scope_names_the_nested_field()
    {
        Result<SessionCreateRequest> r = RequestBody.Parse(
            "{\"scope\":{\"route_allow\":\"openai\"}}"u8, HttpJsonContext.Default.SessionCreateRequest);

        Assert.False(r.IsOk);
        Assert.Contains("`scope.route_allow` must be an array of strings", r.Error!.Message, StringComparison.Ordinal);
    }

    // ---- echoed key redaction ------------------------------------------------------------

    [Fact]
    public void A_key_split_across_chunks_is_redacted()
    {
        byte[] key = "sk-live-0123456789abcdef"u8.ToArray();
        var redactor = new EchoRedactor(key);
        var output = new List<byte>();

        output.AddRange(redactor.Process("{\"echo\":\"sk-live-0123"u8));
        output.AddRange(redactor.Process("456789abcdef\"}\n"u8));
        output.AddRange(redactor.Flush());

        string text = Encoding.UTF8.GetString([.. output]);
        Assert.DoesNotContain("sk-live-0123456789abcdef", text, StringComparison.Ordinal);
        Assert.Equal("{\"echo\":\"" + new string('*', key.Length) + "\"}\n", text);
    }

    [Fact]
    public void A_chunk_ending_in_a_newline_is_relayed_whole_at_once()
    {
        var redactor = new EchoRedactor("sk-secret-key-value"u8.ToArray());

        ArraySegment<byte> now = redactor.Process("data: {\"delta\":\"hi\"}\n\n"u8);

        Assert.Equal("data: {\"delta\":\"hi\"}\n\n", Encoding.UTF8.GetString(now));
    }

    [Fact]
    public void A_tail_that_only_starts_like_the_key_is_released_at_the_end()
    {
        var redactor = new EchoRedactor("sk-secret"u8.ToArray());

        ArraySegment<byte> now = redactor.Process("value sk-se"u8);
        ArraySegment<byte> rest = redactor.Flush();

        Assert.Equal("value ", Encoding.UTF8.GetString(now));
        Assert.Equal("sk-se", Encoding.UTF8.GetString(rest));
        Assert.False(redactor.Redacted);
    }

    // ---- model policy --------------------------------------------------------------------

    private static RouteDefinition Route(ProviderDriver driver, ModelSupport support) => new(
        RouteId.Parse("r1"), driver, "gpt-4o-mini", support, new RouteCredential.EnvApiKey("X"), driver.DefaultBaseUrl, null, null, null, []);

    [Fact]
    public void A_body_without_model_gets_the_default_model()
    {
        Result<byte[]> r = ModelPolicy.Apply(Route(ProviderDriver.OpenAI, ModelSupport.Family), "{\"messages\":[]}"u8.ToArray());

        Assert.Equal("{\"model\":\"gpt-4o-mini\",\"messages\":[]}", Encoding.UTF8.GetString(r.Value));
    }

    [Fact]
    public void An_empty_object_gets_the_default_model()
    {
        Result<byte[]> r = ModelPolicy.Apply(Route(ProviderDriver.OpenAI, ModelSupport.Family), "{ }"u8.ToArray());

        Assert.Equal("{\"model\":\"gpt-4o-mini\"}", Encoding.UTF8.GetString(r.Value).Replace(" ", "", StringComparison.Ordinal));
    }

    [Fact]
    public void A_model_of_another_family_is_refused_naming_the_route_and_its_family()
    {
        Result<byte[]> r = ModelPolicy.Apply(Route(ProviderDriver.OpenAI, ModelSupport.Family), "{\"model\":\"claude-sonnet-4\"}"u8.ToArray());

        Assert.Equal("model_not_allowed", r.Error!.Code);
        Assert.Contains("route `r1` is a openai route", r.Error!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Model_support_any_allows_every_model()
    {
        byte[] body = "{\"model\":\"claude-sonnet-4\"}"u8.ToArray();

        Result<byte[]> r = ModelPolicy.Apply(Route(ProviderDriver.OpenAI, ModelSupport.Any), body);

        Assert.Same(body, r.Value);
    }

    // ---- bucket names --------------------------------------------------------------------

    [Theory]
    [InlineData("session-victim")]
    [InlineData("SESSION-victim")]
    [InlineData("unscoped")]
    [InlineData("a/b")]
    [InlineData("..")]
    [InlineData("run?x")]
    [InlineData("run%2Fx")]
    public void Run_ids_that_alias_another_bucket_or_cannot_be_read_back_are_refused(string runId)
    {
        Assert.NotNull(BucketName.RunIdProblem(runId));
    }

    [Theory]
    [InlineData("run-1")]
    [InlineData("ci:build@42.3_x")]
    public void Ordinary_run_ids_are_accepted(string runId)
    {
        Assert.Null(BucketName.RunIdProblem(runId));
    }

    // ---- auth audit log ------------------------------------------------------------------

    [Fact]
    public void The_auth_audit_log_rotates_and_keeps_three_files()
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
        Assert.Equal(3, files.Length);
        Assert.All(files, f => Assert.True(new FileInfo(f).Length <= 4096, $"{f} is {new FileInfo(f).Length} bytes"));
        Assert.All(File.ReadAllLines(root.ControlPlaneAuditFile), l => Assert.True(Encoding.UTF8.GetByteCount(l) <= AuthAuditLog.MaxEntryBytes));
    }

    // ---- session revocation cascade ------------------------------------------------------

    [Fact]
    public void Revoking_a_session_revokes_its_descendants_durably()
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

            Assert.Equal(["session:child", "session:grandchild"], r.CascadedSubjects);
        }

        using CredentialBroker reopened = CredentialBroker.Open(root, codec).Value;
        Assert.True(reopened.IsSubjectRevoked(SubjectId.ForSession("grandchild")));
    }

    [Fact]
    public void A_revoked_session_id_cannot_be_created_again()
    {
        using var dir = new TempDir();
        var root = new StateRoot(dir.StateRoot);
        root.EnsureExists();
        IStateFileCodec codec = EnvelopeStateFileCodec.For(null, root);
        using CredentialBroker broker = CredentialBroker.Open(root, codec).Value;
        SessionRegistry sessions = SessionRegistry.Open(root, codec, broker).Value;
        _ = broker.RevokeSubject(SubjectId.ForSession("pre")).Value;

        Result<SessionRecord> r = sessions.Create("pre", new CredentialScope(), null);

        Assert.Equal(BrokerErrors.SubjectRevoked, r.Error!.Code);
        Assert.Equal(ErrorKind.Conflict, r.Error!.Kind);
    }

    [Fact]
    public void A_session_with_a_revoked_grandparent_has_a_revoked_ancestor()
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

        Assert.Equal("session:g", SessionCascade.RevokedAncestor(sessions, broker, c));
    }

    // ---- plain I/O reasons ---------------------------------------------------------------

    [Fact]
    public void Io_reasons_are_plain_words()
    {
        Assert.Equal("file not found", IoReason.Of(new FileNotFoundException("x")));
        Assert.Equal("directory not found", IoReason.Of(new DirectoryNotFoundException("x")));
        Assert.Equal("no space left on the device", IoReason.Of(new IOException("x", 28)));
    }
}
