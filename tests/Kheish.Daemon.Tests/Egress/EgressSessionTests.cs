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
        await Assert.That(r.IsSuccessStatusCode).IsTrue();
    }

    private static HttpRequestMessage ForSession(string session) => new(HttpMethod.Get, "/agent/v1/routes/openai/models")
    {
        Headers = { { "X-Kheish-Session-Id", session } },
    };

    [Test]
    public async Task A_session_scope_that_denies_the_route_refuses_a_key_acting_for_it()
    {
        await using EgressHarness h = await EgressHarness.StartAsync();
        await CreateSessionAsync(h, "s-narrow", "{\"route_deny\":[\"openai\"]}");
        using HttpClient agent = h.Agent();

        HttpResponseMessage r = await agent.SendAsync(ForSession("s-narrow"));

        await Assert.That(r.StatusCode).IsEqualTo(HttpStatusCode.Forbidden);
        await Assert.That(await EgressProxyTests.CodeOf(r)).IsEqualTo("scope_denied");
        await Assert.That(h.Upstream.Received).IsEmpty();
    }

    [Test]
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

        await Assert.That(ok.StatusCode).IsEqualTo(HttpStatusCode.OK);
        await Assert.That(revoke.StatusCode).IsEqualTo(HttpStatusCode.OK);
        await Assert.That(refused.StatusCode).IsEqualTo(HttpStatusCode.Unauthorized);
        await Assert.That(await EgressProxyTests.CodeOf(refused)).IsEqualTo("subject_revoked");
        await Assert.That(h.Upstream.Received).HasSingleItem();
        await Assert.That(listing.ExitCode == 0).IsTrue();
        using JsonDocument doc = JsonDocument.Parse(listing.Stdout);
        JsonElement started = doc.RootElement.GetProperty("external_actions")[0];
        await Assert.That(started.GetProperty("principal_id").GetString()).IsEqualTo("session:s-live");
        await Assert.That(started.GetProperty("parent_principal_id").GetString()).IsEqualTo("agent:coder");
        await Assert.That(started.GetProperty("session_id").GetString()).IsEqualTo("s-live");
    }

    [Test]
    public async Task Revoking_the_keys_principal_also_stops_it_acting_for_a_session()
    {
        await using EgressHarness h = await EgressHarness.StartAsync();
        await CreateSessionAsync(h, "s-parent", "{}");
        using HttpClient agent = h.Agent();
        using HttpClient admin = h.Admin();

        HttpResponseMessage revoke = await admin.PostAsync("/v1/runtime/auth/subjects/agent:coder/revoke", null);
        HttpResponseMessage refused = await agent.SendAsync(ForSession("s-parent"));

        await Assert.That(revoke.StatusCode).IsEqualTo(HttpStatusCode.OK);
        await Assert.That(refused.StatusCode).IsEqualTo(HttpStatusCode.Unauthorized);
        await Assert.That(await EgressProxyTests.CodeOf(refused)).IsEqualTo("subject_revoked");
        await Assert.That(h.Upstream.Received).IsEmpty();
    }
}
