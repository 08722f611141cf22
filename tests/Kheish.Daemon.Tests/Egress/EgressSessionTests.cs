using System.Net;
using System.Text.Json;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Egress;

/// <summary>A key acting for a session (<c>X-Kheish-Session-Id</c>): narrowed by the session, stopped by its revocation.</summary>
public sealed class EgressSessionTests
{
    private static async Task CreateSessionAsync(EgressHarness h, string id, string scopeJson)
    {
        using HttpClient admin = h.Admin();
        HttpResponseMessage r = await admin.PostAsync("/v1/sessions", EgressProxyTests.Json($"{{\"session_id\":\"{id}\",\"scope\":{scopeJson}}}"));
        Assert.True(r.IsSuccessStatusCode, await r.Content.ReadAsStringAsync());
    }

    private static HttpRequestMessage ForSession(string session) => new(HttpMethod.Get, "/agent/v1/routes/openai/models")
    {
        Headers = { { "X-Kheish-Session-Id", session } },
    };

    [Fact]
    public async Task A_session_scope_that_denies_the_route_refuses_a_key_acting_for_it()
    {
        await using EgressHarness h = await EgressHarness.StartAsync();
        await CreateSessionAsync(h, "s-narrow", "{\"route_deny\":[\"openai\"]}");
        using HttpClient agent = h.Agent();

        HttpResponseMessage r = await agent.SendAsync(ForSession("s-narrow"));

        Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
        Assert.Equal("scope_denied", await EgressProxyTests.CodeOf(r));
        Assert.Empty(h.Upstream.Received);
    }

    [Fact]
    public async Task Calls_for_a_session_are_issued_to_the_session_and_stop_when_it_is_revoked()
    {
        await using EgressHarness h = await EgressHarness.StartAsync();
        await CreateSessionAsync(h, "s-live", "{}");
        using HttpClient agent = h.Agent();
        using HttpClient admin = h.Admin();

        HttpResponseMessage ok = await agent.SendAsync(ForSession("s-live"));
        HttpResponseMessage revoke = await admin.PostAsync("/v1/runtime/auth/subjects/session:s-live/revoke", null);
        HttpResponseMessage refused = await agent.SendAsync(ForSession("s-live"));
        CliResult listing = await h.OnlineAsync("runs", "external-actions", "session-s-live", "-o", "json");

        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Equal(HttpStatusCode.OK, revoke.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Equal("subject_revoked", await EgressProxyTests.CodeOf(refused));
        Assert.Single(h.Upstream.Received);
        Assert.True(listing.ExitCode == 0, listing.ToString());
        using JsonDocument doc = JsonDocument.Parse(listing.Stdout);
        JsonElement started = doc.RootElement.GetProperty("external_actions")[0];
        Assert.Equal("session:s-live", started.GetProperty("principal_id").GetString());
        Assert.Equal("agent:coder", started.GetProperty("parent_principal_id").GetString());
        Assert.Equal("s-live", started.GetProperty("session_id").GetString());
    }

    [Fact]
    public async Task Revoking_the_keys_principal_also_stops_it_acting_for_a_session()
    {
        await using EgressHarness h = await EgressHarness.StartAsync();
        await CreateSessionAsync(h, "s-parent", "{}");
        using HttpClient agent = h.Agent();
        using HttpClient admin = h.Admin();

        HttpResponseMessage revoke = await admin.PostAsync("/v1/runtime/auth/subjects/agent:coder/revoke", null);
        HttpResponseMessage refused = await agent.SendAsync(ForSession("s-parent"));

        Assert.Equal(HttpStatusCode.OK, revoke.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Equal("subject_revoked", await EgressProxyTests.CodeOf(refused));
        Assert.Empty(h.Upstream.Received);
    }
}
