using System.Net;
using FsCheck;
using FsCheck.Fluent;
using Kheish.Core.Access;
using Kheish.Core.Errors;
using static Kheish.Core.Tests.Access.AccessFixtures;

namespace Kheish.Core.Tests.Access;

public sealed class AgentAccessPolicyTests
{
    private static readonly IPAddress Loopback = IPAddress.Loopback;

    [Test]
    public async Task A_valid_key_in_Authorization_Bearer_is_accepted_with_its_principal_and_scope()
    {
        string key = ApiKeys.Generate();
        var scope = new ApiKeyScope(RouteAllow: ["openai"]);
        var config = new SecurityConfig(SecurityMode.Strict, [Entry(key, "agent:claude", scope)], IpAllowList.Empty, IpAllowList.Empty, null);

        var allowed = (await Assert.That(AgentAccessPolicy.Evaluate(Snapshot(config), Loopback, null, null, "bearer " + key)).IsTypeOf<AgentAccessAllowed>())!;

        await Assert.That(allowed.Principal).IsEqualTo("agent:claude");
        await Assert.That(allowed.KeyId).IsEqualTo(ApiKeys.DeriveId(ApiKeys.Digest(key)));
        await Assert.That(allowed.Scope!.RouteAllow!).IsEquivalentTo(["openai"], CollectionOrdering.Matching);
    }

    [Test]
    public async Task X_API_Key_wins_over_the_Authorization_header()
    {
        string key = ApiKeys.Generate();
        var config = new SecurityConfig(SecurityMode.Strict, [Entry(key)], IpAllowList.Empty, IpAllowList.Empty, null);

        var decision = AgentAccessPolicy.Evaluate(Snapshot(config), Loopback, null, key, "Bearer something-else");

        await Assert.That(decision).IsTypeOf<AgentAccessAllowed>();
    }

    [Test]
    public async Task A_non_bearer_Authorization_header_in_relaxed_mode_is_an_invalid_key_not_anonymous()
    {
        var config = new SecurityConfig(SecurityMode.Relaxed, [], IpAllowList.Empty, IpAllowList.Empty, null);

        var denied = (await Assert.That(AgentAccessPolicy.Evaluate(Snapshot(config), Loopback, null, null, "Basic dXNlcjpwYXNz")).IsTypeOf<AgentAccessDenied>())!;

        await Assert.That(denied.Status).IsEqualTo(401);
        await Assert.That(denied.Error.Code).IsEqualTo("invalid_api_key");
    }

    [Test]
    public async Task Lax_with_a_valid_key_keeps_the_key_principal_and_its_narrower_scope()
    {
        string key = ApiKeys.Generate();
        var config = new SecurityConfig(SecurityMode.Lax, [Entry(key, "agent:ci", new ApiKeyScope(McpServerDeny: ["github"]))], IpAllowList.Empty, IpAllowList.Empty, null);

        var allowed = (await Assert.That(AgentAccessPolicy.Evaluate(Snapshot(config), Loopback, null, key, null)).IsTypeOf<AgentAccessAllowed>())!;

        await Assert.That(allowed.Principal).IsEqualTo("agent:ci");
        await Assert.That(allowed.Scope!.McpServerDeny!).IsEquivalentTo(["github"], CollectionOrdering.Matching);
    }

    [Test]
    public async Task Lax_with_an_unknown_key_is_anonymous()
    {
        var config = new SecurityConfig(SecurityMode.Lax, [], IpAllowList.Empty, IpAllowList.Empty, null);

        var allowed = (await Assert.That(AgentAccessPolicy.Evaluate(Snapshot(config), Loopback, null, "whatever", null)).IsTypeOf<AgentAccessAllowed>())!;

        await Assert.That(allowed.Principal).IsEqualTo("anonymous");
        await Assert.That(allowed.KeyId).IsNull();
    }

    [Test]
    public async Task Strict_with_no_keys_refuses_every_request()
    {
        var denied = (await Assert.That(AgentAccessPolicy.Evaluate(SecurityConfigSnapshot.Default, Loopback, null, "kheish_x", null)).IsTypeOf<AgentAccessDenied>())!;

        await Assert.That(denied.Status).IsEqualTo(401);
    }

    [Test]
    public async Task An_invalid_snapshot_refuses_with_503_config_invalid_naming_the_file()
    {
        var snapshot = SecurityConfigSnapshot.Invalid(
            SecurityConfigOrigin.Global,
            "/etc/x/security.json",
            SecurityConfigFile.Invalid("/etc/x/security.json", "not valid JSON"));

        var denied = (await Assert.That(AgentAccessPolicy.Evaluate(snapshot, Loopback, null, null, null)).IsTypeOf<AgentAccessDenied>())!;

        await Assert.That(denied.Status).IsEqualTo(503);
        await Assert.That(denied.Error.Code).IsEqualTo("config_invalid");
        await Assert.That(denied.Error.Message).Contains("/etc/x/security.json");
    }

    [Test]
    public async Task An_empty_allowlist_permits_any_address()
    {
        var config = new SecurityConfig(SecurityMode.Relaxed, [], IpAllowList.Empty, IpAllowList.Empty, null);

        var decision = AgentAccessPolicy.Evaluate(Snapshot(config), Ip("198.51.100.77"), null, null, null);

        await Assert.That(decision).IsTypeOf<AgentAccessAllowed>();
    }

    [Test]
    public async Task An_IPv4_mapped_socket_address_matches_an_IPv4_allowlist_entry()
    {
        var config = new SecurityConfig(SecurityMode.Relaxed, [], Rules("127.0.0.1"), IpAllowList.Empty, null);

        var allowed = (await Assert.That(AgentAccessPolicy.Evaluate(Snapshot(config), Ip("::ffff:127.0.0.1"), null, null, null)).IsTypeOf<AgentAccessAllowed>())!;

        await Assert.That(allowed.ClientAddress).IsEqualTo(Ip("127.0.0.1"));
    }

    [Test]
    public async Task Forwarded_for_takes_the_right_most_address_that_is_not_a_trusted_proxy()
    {
        var proxies = Rules("10.9.0.0/24");

        ClientAddressResult r = AgentAccessPolicy.ResolveClientAddress(proxies, Ip("10.9.0.1"), "1.1.1.1, 203.0.113.5, 10.9.0.7");

        await Assert.That(r.Address).IsEqualTo(Ip("203.0.113.5"));
    }

    [Test]
    public async Task Forwarded_for_entries_with_ports_are_understood()
    {
        ClientAddressResult r = AgentAccessPolicy.ResolveClientAddress(Rules("10.9.0.1"), Ip("10.9.0.1"), "[2001:db8::7]:5123");

        await Assert.That(r.Address).IsEqualTo(Ip("2001:db8::7"));
    }

    [Test]
    public async Task A_garbage_forwarded_for_from_a_trusted_proxy_is_refused_when_an_allowlist_exists()
    {
        var config = new SecurityConfig(SecurityMode.Lax, [], Rules("0.0.0.0/0"), Rules("10.9.0.1"), null);

        var denied = (await Assert.That(AgentAccessPolicy.Evaluate(Snapshot(config), Ip("10.9.0.1"), "not-an-ip", null, null)).IsTypeOf<AgentAccessDenied>())!;

        await Assert.That(denied.Error.Code).IsEqualTo("ip_not_allowed");
    }

    [Test]
    public async Task Forwarded_for_from_a_peer_that_is_not_a_trusted_proxy_is_ignored()
    {
        ClientAddressResult r = AgentAccessPolicy.ResolveClientAddress(Rules("10.9.0.1"), Ip("203.0.113.9"), "127.0.0.1");

        await Assert.That(r.Address).IsEqualTo(Ip("203.0.113.9"));
    }

    [Test]
    public void No_forwarded_for_header_from_an_untrusted_peer_changes_the_client_address()
    {
        Prop.ForAll<string>(header =>
        {
            ClientAddressResult r = AgentAccessPolicy.ResolveClientAddress(Rules("10.9.0.0/16"), Ip("203.0.113.9"), header);
            return r.Error is null && Ip("203.0.113.9").Equals(r.Address);
        }).QuickCheckThrowOnFailure();
    }

    [Test]
    public async Task An_oversized_presented_key_is_invalid()
    {
        string key = ApiKeys.Generate();
        var config = new SecurityConfig(SecurityMode.Strict, [Entry(key)], IpAllowList.Empty, IpAllowList.Empty, null);

        var denied = (await Assert.That(AgentAccessPolicy.Evaluate(Snapshot(config), Loopback, null, new string('k', 100_000), null)).IsTypeOf<AgentAccessDenied>())!;

        await Assert.That(denied.Error.Code).IsEqualTo("invalid_api_key");
    }

    [Test]
    public async Task A_denial_message_never_contains_the_presented_key()
    {
        string presented = "kheish_" + new string('7', 64);
        var config = new SecurityConfig(SecurityMode.Strict, [], IpAllowList.Empty, IpAllowList.Empty, null);

        var denied = (await Assert.That(AgentAccessPolicy.Evaluate(Snapshot(config), Loopback, null, presented, null)).IsTypeOf<AgentAccessDenied>())!;

        await Assert.That(denied.Error.Message).DoesNotContain(presented);
        await Assert.That(denied.WwwAuthenticate).DoesNotContain(presented);
    }

    [Test]
    public async Task One_thousand_keys_each_resolve_to_their_own_entry()
    {
        string[] keys = [.. Enumerable.Range(0, 1000).Select(_ => ApiKeys.Generate())];
        var config = new SecurityConfig(SecurityMode.Strict, [.. keys.Select((k, i) => Entry(k, $"agent:{i}"))], IpAllowList.Empty, IpAllowList.Empty, null);

        for (int i = 0; i < keys.Length; i++)
        {
            var allowed = (await Assert.That(AgentAccessPolicy.Evaluate(Snapshot(config), Loopback, null, keys[i], null)).IsTypeOf<AgentAccessAllowed>())!;
            await Assert.That(allowed.Principal).IsEqualTo($"agent:{i}");
        }
    }

    [Test]
    [Arguments("127.0.0.1", false, true)]
    [Arguments("::1", false, true)]
    [Arguments("0.0.0.0", false, false)]
    [Arguments("::", false, false)]
    [Arguments("192.168.1.5", true, true)]
    public async Task Lax_on_a_network_bind_needs_the_explicit_flag(string bind, bool allowLaxOnNetwork, bool expectedOk)
    {
        var snapshot = Snapshot(new SecurityConfig(SecurityMode.Lax, [], IpAllowList.Empty, IpAllowList.Empty, null));

        Result<SecurityConfigSnapshot> r = AgentAccessPolicy.CheckBindAllowed(snapshot, new IPEndPoint(Ip(bind), 4000), allowLaxOnNetwork);

        await Assert.That(r.IsOk).IsEqualTo(expectedOk);
        if (!r.IsOk)
        {
            await Assert.That(r.Error.Code).IsEqualTo("lax_on_network");
        }
    }

    [Test]
    public async Task Strict_on_a_network_bind_is_allowed()
    {
        Result<SecurityConfigSnapshot> r = AgentAccessPolicy.CheckBindAllowed(SecurityConfigSnapshot.Default, new IPEndPoint(IPAddress.Any, 4000), false);

        await Assert.That(r.IsOk).IsTrue();
    }
}
