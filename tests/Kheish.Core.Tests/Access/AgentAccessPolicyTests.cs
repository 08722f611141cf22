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

    [Fact]
    public void A_valid_key_in_Authorization_Bearer_is_accepted_with_its_principal_and_scope()
    {
        string key = ApiKeys.Generate();
        var scope = new ApiKeyScope(RouteAllow: ["openai"]);
        var config = new SecurityConfig(SecurityMode.Strict, [Entry(key, "agent:claude", scope)], IpAllowList.Empty, IpAllowList.Empty, null);

        var allowed = Assert.IsType<AgentAccessAllowed>(AgentAccessPolicy.Evaluate(Snapshot(config), Loopback, null, null, "bearer " + key));

        Assert.Equal("agent:claude", allowed.Principal);
        Assert.Equal(ApiKeys.DeriveId(ApiKeys.Digest(key)), allowed.KeyId);
        Assert.Equal(["openai"], allowed.Scope!.RouteAllow!);
    }

    [Fact]
    public void X_API_Key_wins_over_the_Authorization_header()
    {
        string key = ApiKeys.Generate();
        var config = new SecurityConfig(SecurityMode.Strict, [Entry(key)], IpAllowList.Empty, IpAllowList.Empty, null);

        var decision = AgentAccessPolicy.Evaluate(Snapshot(config), Loopback, null, key, "Bearer something-else");

        Assert.IsType<AgentAccessAllowed>(decision);
    }

    [Fact]
    public void A_non_bearer_Authorization_header_in_relaxed_mode_is_an_invalid_key_not_anonymous()
    {
        var config = new SecurityConfig(SecurityMode.Relaxed, [], IpAllowList.Empty, IpAllowList.Empty, null);

        var denied = Assert.IsType<AgentAccessDenied>(AgentAccessPolicy.Evaluate(Snapshot(config), Loopback, null, null, "Basic dXNlcjpwYXNz"));

        Assert.Equal(401, denied.Status);
        Assert.Equal("invalid_api_key", denied.Error.Code);
    }

    [Fact]
    public void Lax_with_a_valid_key_keeps_the_key_principal_and_its_narrower_scope()
    {
        string key = ApiKeys.Generate();
        var config = new SecurityConfig(SecurityMode.Lax, [Entry(key, "agent:ci", new ApiKeyScope(McpServerDeny: ["github"]))], IpAllowList.Empty, IpAllowList.Empty, null);

        var allowed = Assert.IsType<AgentAccessAllowed>(AgentAccessPolicy.Evaluate(Snapshot(config), Loopback, null, key, null));

        Assert.Equal("agent:ci", allowed.Principal);
        Assert.Equal(["github"], allowed.Scope!.McpServerDeny!);
    }

    [Fact]
    public void Lax_with_an_unknown_key_is_anonymous()
    {
        var config = new SecurityConfig(SecurityMode.Lax, [], IpAllowList.Empty, IpAllowList.Empty, null);

        var allowed = Assert.IsType<AgentAccessAllowed>(AgentAccessPolicy.Evaluate(Snapshot(config), Loopback, null, "whatever", null));

        Assert.Equal("anonymous", allowed.Principal);
        Assert.Null(allowed.KeyId);
    }

    [Fact]
    public void Strict_with_no_keys_refuses_every_request()
    {
        var denied = Assert.IsType<AgentAccessDenied>(AgentAccessPolicy.Evaluate(SecurityConfigSnapshot.Default, Loopback, null, "kheish_x", null));

        Assert.Equal(401, denied.Status);
    }

    [Fact]
    public void An_invalid_snapshot_refuses_with_503_config_invalid_naming_the_file()
    {
        var snapshot = SecurityConfigSnapshot.Invalid(
            SecurityConfigOrigin.Global,
            "/etc/x/security.json",
            SecurityConfigFile.Invalid("/etc/x/security.json", "not valid JSON"));

        var denied = Assert.IsType<AgentAccessDenied>(AgentAccessPolicy.Evaluate(snapshot, Loopback, null, null, null));

        Assert.Equal(503, denied.Status);
        Assert.Equal("config_invalid", denied.Error.Code);
        Assert.Contains("/etc/x/security.json", denied.Error.Message);
    }

    [Fact]
    public void An_empty_allowlist_permits_any_address()
    {
        var config = new SecurityConfig(SecurityMode.Relaxed, [], IpAllowList.Empty, IpAllowList.Empty, null);

        var decision = AgentAccessPolicy.Evaluate(Snapshot(config), Ip("198.51.100.77"), null, null, null);

        Assert.IsType<AgentAccessAllowed>(decision);
    }

    [Fact]
    public void An_IPv4_mapped_socket_address_matches_an_IPv4_allowlist_entry()
    {
        var config = new SecurityConfig(SecurityMode.Relaxed, [], Rules("127.0.0.1"), IpAllowList.Empty, null);

        var allowed = Assert.IsType<AgentAccessAllowed>(AgentAccessPolicy.Evaluate(Snapshot(config), Ip("::ffff:127.0.0.1"), null, null, null));

        Assert.Equal(Ip("127.0.0.1"), allowed.ClientAddress);
    }

    [Fact]
    public void Forwarded_for_takes_the_right_most_address_that_is_not_a_trusted_proxy()
    {
        var proxies = Rules("10.9.0.0/24");

        ClientAddressResult r = AgentAccessPolicy.ResolveClientAddress(proxies, Ip("10.9.0.1"), "1.1.1.1, 203.0.113.5, 10.9.0.7");

        Assert.Equal(Ip("203.0.113.5"), r.Address);
    }

    [Fact]
    public void Forwarded_for_entries_with_ports_are_understood()
    {
        ClientAddressResult r = AgentAccessPolicy.ResolveClientAddress(Rules("10.9.0.1"), Ip("10.9.0.1"), "[2001:db8::7]:5123");

        Assert.Equal(Ip("2001:db8::7"), r.Address);
    }

    [Fact]
    public void A_garbage_forwarded_for_from_a_trusted_proxy_is_refused_when_an_allowlist_exists()
    {
        var config = new SecurityConfig(SecurityMode.Lax, [], Rules("0.0.0.0/0"), Rules("10.9.0.1"), null);

        var denied = Assert.IsType<AgentAccessDenied>(AgentAccessPolicy.Evaluate(Snapshot(config), Ip("10.9.0.1"), "not-an-ip", null, null));

        Assert.Equal("ip_not_allowed", denied.Error.Code);
    }

    [Fact]
    public void Forwarded_for_from_a_peer_that_is_not_a_trusted_proxy_is_ignored()
    {
        ClientAddressResult r = AgentAccessPolicy.ResolveClientAddress(Rules("10.9.0.1"), Ip("203.0.113.9"), "127.0.0.1");

        Assert.Equal(Ip("203.0.113.9"), r.Address);
    }

    [Fact]
    public void No_forwarded_for_header_from_an_untrusted_peer_changes_the_client_address()
    {
        Prop.ForAll<string>(header =>
        {
            ClientAddressResult r = AgentAccessPolicy.ResolveClientAddress(Rules("10.9.0.0/16"), Ip("203.0.113.9"), header);
            return r.Error is null && Ip("203.0.113.9").Equals(r.Address);
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void An_oversized_presented_key_is_invalid()
    {
        string key = ApiKeys.Generate();
        var config = new SecurityConfig(SecurityMode.Strict, [Entry(key)], IpAllowList.Empty, IpAllowList.Empty, null);

        var denied = Assert.IsType<AgentAccessDenied>(AgentAccessPolicy.Evaluate(Snapshot(config), Loopback, null, new string('k', 100_000), null));

        Assert.Equal("invalid_api_key", denied.Error.Code);
    }

    [Fact]
    public void A_denial_message_never_contains_the_presented_key()
    {
        string presented = "kheish_" + new string('7', 64);
        var config = new SecurityConfig(SecurityMode.Strict, [], IpAllowList.Empty, IpAllowList.Empty, null);

        var denied = Assert.IsType<AgentAccessDenied>(AgentAccessPolicy.Evaluate(Snapshot(config), Loopback, null, presented, null));

        Assert.DoesNotContain(presented, denied.Error.Message);
        Assert.DoesNotContain(presented, denied.WwwAuthenticate);
    }

    [Fact]
    public void One_thousand_keys_each_resolve_to_their_own_entry()
    {
        string[] keys = [.. Enumerable.Range(0, 1000).Select(_ => ApiKeys.Generate())];
        var config = new SecurityConfig(SecurityMode.Strict, [.. keys.Select((k, i) => Entry(k, $"agent:{i}"))], IpAllowList.Empty, IpAllowList.Empty, null);

        for (int i = 0; i < keys.Length; i++)
        {
            var allowed = Assert.IsType<AgentAccessAllowed>(AgentAccessPolicy.Evaluate(Snapshot(config), Loopback, null, keys[i], null));
            Assert.Equal($"agent:{i}", allowed.Principal);
        }
    }

    [Theory]
    [InlineData("127.0.0.1", false, true)]
    [InlineData("::1", false, true)]
    [InlineData("0.0.0.0", false, false)]
    [InlineData("::", false, false)]
    [InlineData("192.168.1.5", true, true)]
    public void Lax_on_a_network_bind_needs_the_explicit_flag(string bind, bool allowLaxOnNetwork, bool expectedOk)
    {
        var snapshot = Snapshot(new SecurityConfig(SecurityMode.Lax, [], IpAllowList.Empty, IpAllowList.Empty, null));

        Result<SecurityConfigSnapshot> r = AgentAccessPolicy.CheckBindAllowed(snapshot, new IPEndPoint(Ip(bind), 4000), allowLaxOnNetwork);

        Assert.Equal(expectedOk, r.IsOk);
        if (!r.IsOk)
        {
            Assert.Equal("lax_on_network", r.Error.Code);
        }
    }

    [Fact]
    public void Strict_on_a_network_bind_is_allowed()
    {
        Result<SecurityConfigSnapshot> r = AgentAccessPolicy.CheckBindAllowed(SecurityConfigSnapshot.Default, new IPEndPoint(IPAddress.Any, 4000), false);

        Assert.True(r.IsOk);
    }
}
