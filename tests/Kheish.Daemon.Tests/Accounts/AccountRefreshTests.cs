using System.Net;
using System.Text;
using System.Text.Json;
using Kheish.Daemon.Tests.Egress;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Accounts;

/// <summary>Refresh of imported accounts against a loopback token endpoint, on the real binary.</summary>
public sealed class AccountRefreshTests
{
    private static async Task<HttpResponseMessage> ForceRefreshAsync(AccountHarness h, string slot)
    {
        using HttpClient admin = h.Admin();
        return await admin.PostAsync($"/v1/runtime/auth/accounts/{slot}/refresh", null);
    }

    private static string ProblemDetail(string problem)
    {
        using JsonDocument doc = JsonDocument.Parse(problem);
        return doc.RootElement.GetProperty("code").GetString() + ": " + doc.RootElement.GetProperty("detail").GetString();
    }

    private static string Detail(JsonElement account, string key) => account.GetProperty("details").GetProperty(key).GetString()!;

    [Test]
    public async Task Codex_refresh_sends_what_codex_sends_and_rotates_the_tokens()
    {
        await using AccountHarness h = await AccountHarness.StartAsync(configure: t => t.JwtAccessTokens = true);

        HttpResponseMessage first = await ForceRefreshAsync(h, AccountHarness.CodexSlot);
        HttpResponseMessage second = await ForceRefreshAsync(h, AccountHarness.CodexSlot);

        await Assert.That(first.StatusCode).IsEqualTo(HttpStatusCode.OK);
        await Assert.That(second.StatusCode).IsEqualTo(HttpStatusCode.OK);
        TokenRequest[] sent = [.. h.Tokens.Requests];
        await Assert.That(sent.Length).IsEqualTo(2);
        foreach (var req in sent)
        {
            await Assert.That(req.Path).IsEqualTo("/oauth/token");
            await Assert.That(req.ContentType).StartsWith("application/json");
            await Assert.That(req.Field("client_id")).IsEqualTo("app_EMoamEEZ73f0CkXaXp7hrann");
            await Assert.That(req.Field("grant_type")).IsEqualTo("refresh_token");
            await Assert.That(req.Field("scope")).IsEqualTo("openid profile email");
        }

        // Rotation: the imported refresh token once, then the one the first refresh issued; never a token twice.
        await Assert.That(sent[0].Field("refresh_token")).IsEqualTo(h.CodexRefresh);
        await Assert.That(sent[1].Field("refresh_token")).IsEqualTo(h.Tokens.Issued.First().Refresh);
        JsonElement account = await h.AccountAsync(AccountHarness.CodexSlot);
        await Assert.That(Detail(account, "last_refresh_outcome")).IsEqualTo("success");
        // Each token request is an audited external action: started before it went out, then its outcome.
        string ledger = await File.ReadAllTextAsync(Path.Combine(h.Dir.StateRoot, "external-actions", "unscoped.jsonl"));
        string[] refreshRecords = [.. ledger.Split('\n').Where(l => l.Contains("\"kind\":\"account_refresh\"", StringComparison.Ordinal))];
        await Assert.That(refreshRecords.Length).IsEqualTo(4);
        await Assert.That(refreshRecords.Count(l => l.Contains("\"phase\":\"started\"", StringComparison.Ordinal))).IsEqualTo(2);
        await Assert.That(refreshRecords.Count(l => l.Contains("\"outcome\":\"refreshed\"", StringComparison.Ordinal))).IsEqualTo(2);
        foreach (var l in refreshRecords)
        {
            await Assert.That(l).Contains($"\"target\":\"{AccountHarness.CodexSlot} POST {h.Tokens.BaseUrl}/oauth/token\"");
        }

        // The route now sends the newest access token with the account id header.
        using HttpClient agent = h.Agent();
        HttpResponseMessage r = await agent.PostAsync("/agent/v1/routes/codex/responses", new StringContent("{\"model\":\"gpt-5-codex\"}", Encoding.UTF8, "application/json"));
        await Assert.That(r.StatusCode).IsEqualTo(HttpStatusCode.OK);
        UpstreamRequest got = (await Assert.That(h.Upstream.Received).HasSingleItem())!;
        await Assert.That(got.PathAndQuery).IsEqualTo("/backend-api/codex/responses");
        await Assert.That(got.Header("Authorization")).IsEqualTo("Bearer " + h.Tokens.Latest.Access);
        await Assert.That(got.Header("ChatGPT-Account-ID")).IsEqualTo(AccountFixtures.CodexAccountId);
        await Assert.That(string.Join("\n", got.Headers.Values)).DoesNotContain(h.ApiKey);
        h.AssertNoTokenLeaked(await first.Content.ReadAsStringAsync(), await second.Content.ReadAsStringAsync(), await r.Content.ReadAsStringAsync(), account.GetRawText());
    }

    [Test]
    public async Task Eight_concurrent_forced_refreshes_make_exactly_one_token_request()
    {
        await using AccountHarness h = await AccountHarness.StartAsync(configure: t => t.Delay = TimeSpan.FromMilliseconds(700));

        HttpResponseMessage[] answers = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => ForceRefreshAsync(h, AccountHarness.ClaudeSlot)));

        foreach (var a in answers)
        {
            await Assert.That(a.StatusCode).IsEqualTo(HttpStatusCode.OK);
        }
        TokenRequest only = (await Assert.That(h.Tokens.Requests).HasSingleItem())!;
        await Assert.That(only.Field("refresh_token")).IsEqualTo(h.ClaudeRefresh);
        await Assert.That(only.Path).IsEqualTo("/v1/oauth/token");
        await Assert.That(only.Field("client_id")).IsEqualTo("9d1c250a-e61b-44d9-88ed-5944d1962f5e");
        await Assert.That(only.Field("scope")).IsEqualTo("user:inference user:profile");
        h.AssertNoTokenLeaked();
    }

    [Test]
    public async Task An_expiring_claude_token_is_refreshed_before_the_call_and_the_call_sends_the_new_bearer()
    {
        await using AccountHarness h = await AccountHarness.StartAsync(claudeExpires: DateTimeOffset.UtcNow.AddMinutes(2));
        using HttpClient agent = h.Agent();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/agent/v1/routes/claude/v1/messages?beta=true")
        {
            Content = new StringContent("{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":8,\"messages\":[]}", Encoding.UTF8, "application/json"),
        };
        request.Headers.TryAddWithoutValidation("anthropic-beta", "claude-code-20250219,interleaved-thinking-2025-05-14");

        HttpResponseMessage r = await agent.SendAsync(request);

        await Assert.That(r.StatusCode).IsEqualTo(HttpStatusCode.OK);
        TokenRequest refresh = (await Assert.That(h.Tokens.Requests).HasSingleItem())!;
        await Assert.That(refresh.Field("refresh_token")).IsEqualTo(h.ClaudeRefresh);
        UpstreamRequest got = (await Assert.That(h.Upstream.Received).HasSingleItem())!;
        await Assert.That(got.PathAndQuery).IsEqualTo("/v1/messages?beta=true");
        await Assert.That(got.Header("Authorization")).IsEqualTo("Bearer " + h.Tokens.Latest.Access);
        await Assert.That(got.Header("x-api-key")).IsNull();
        await Assert.That(got.Header("anthropic-beta")).IsEqualTo("claude-code-20250219,interleaved-thinking-2025-05-14,oauth-2025-04-20");
        await Assert.That(got.Header("anthropic-version")).IsEqualTo("2023-06-01");
        JsonElement account = await h.AccountAsync(AccountHarness.ClaudeSlot);
        await Assert.That(Detail(account, "last_refresh_outcome")).IsEqualTo("success");
        await Assert.That(long.Parse(Detail(account, "expires_at_ms"), System.Globalization.CultureInfo.InvariantCulture) > DateTimeOffset.UtcNow.AddMinutes(50).ToUnixTimeMilliseconds()).IsTrue();
        h.AssertNoTokenLeaked(await r.Content.ReadAsStringAsync(), account.GetRawText());
    }

    [Test]
    public async Task A_token_that_is_not_due_is_used_without_a_refresh()
    {
        await using AccountHarness h = await AccountHarness.StartAsync();
        using HttpClient agent = h.Agent();

        HttpResponseMessage r = await agent.PostAsync("/agent/v1/routes/claude/v1/messages", new StringContent("{}", Encoding.UTF8, "application/json"));

        await Assert.That(r.StatusCode).IsEqualTo(HttpStatusCode.OK);
        await Assert.That(h.Tokens.Requests).IsEmpty();
        await Assert.That((await Assert.That(h.Upstream.Received).HasSingleItem())!.Header("Authorization")).IsEqualTo("Bearer " + h.ClaudeAccess);
    }

    [Test]
    public async Task A_failing_refresh_is_recorded_redacted_and_the_old_token_is_kept()
    {
        await using AccountHarness h = await AccountHarness.StartAsync(configure: t => t.FailStatus = 400);

        HttpResponseMessage refresh = await ForceRefreshAsync(h, AccountHarness.ClaudeSlot);

        await Assert.That(refresh.StatusCode).IsEqualTo(HttpStatusCode.ServiceUnavailable);
        string problem = await refresh.Content.ReadAsStringAsync();
        await Assert.That(ProblemDetail(problem)).Contains("account_refresh_failed");
        await Assert.That(ProblemDetail(problem)).Contains("`kheish-daemon secrets import-claude-code anthropic.claude`");
        JsonElement account = await h.AccountAsync(AccountHarness.ClaudeSlot);
        await Assert.That(Detail(account, "last_refresh_outcome")).IsEqualTo("failure");
        await Assert.That(Detail(account, "last_refresh_error")).IsEqualTo("the token endpoint answered 400 (invalid_grant)");
        await Assert.That(account.GetRawText()).DoesNotContain("already used");
        // The previous (still valid) token keeps working.
        using HttpClient agent = h.Agent();
        HttpResponseMessage r = await agent.PostAsync("/agent/v1/routes/claude/v1/messages", new StringContent("{}", Encoding.UTF8, "application/json"));
        await Assert.That(r.StatusCode).IsEqualTo(HttpStatusCode.OK);
        await Assert.That((await Assert.That(h.Upstream.Received).HasSingleItem())!.Header("Authorization")).IsEqualTo("Bearer " + h.ClaudeAccess);
        h.AssertNoTokenLeaked(problem, account.GetRawText());
    }

    [Test]
    public async Task An_expired_token_whose_refresh_fails_gets_a_503_naming_the_slot_and_the_fix()
    {
        await using AccountHarness h = await AccountHarness.StartAsync(claudeExpires: DateTimeOffset.UtcNow.AddMinutes(-5), configure: t => t.FailStatus = 401);
        using HttpClient agent = h.Agent();

        HttpResponseMessage r = await agent.PostAsync("/agent/v1/routes/claude/v1/messages", new StringContent("{}", Encoding.UTF8, "application/json"));

        await Assert.That(r.StatusCode).IsEqualTo(HttpStatusCode.ServiceUnavailable);
        string problem = await r.Content.ReadAsStringAsync();
        string detail = ProblemDetail(problem);
        await Assert.That(detail).StartsWith("account_refresh_failed: route `claude`: account slot anthropic.claude (Claude Code) could not be refreshed: the token endpoint answered 401 (invalid_grant)");
        await Assert.That(detail).Contains("`kheish-daemon secrets import-claude-code anthropic.claude`");
        await Assert.That(h.Upstream.Received).IsEmpty();
        h.AssertNoTokenLeaked(problem);
    }

    [Test]
    public async Task A_refresh_granting_scopes_not_held_before_is_refused()
    {
        await using AccountHarness h = await AccountHarness.StartAsync(configure: t => t.GrantScope = "user:inference user:profile org:create_api_key");

        HttpResponseMessage refresh = await ForceRefreshAsync(h, AccountHarness.ClaudeSlot);

        await Assert.That(refresh.StatusCode).IsEqualTo(HttpStatusCode.ServiceUnavailable);
        JsonElement account = await h.AccountAsync(AccountHarness.ClaudeSlot);
        await Assert.That(Detail(account, "last_refresh_outcome")).IsEqualTo("failure");
        await Assert.That(Detail(account, "last_refresh_error")).Contains("org:create_api_key");
        await Assert.That(Detail(account, "last_refresh_error")).Contains("no escalation");
        await Assert.That(Detail(account, "scopes")).IsEqualTo("user:inference user:profile");
        using HttpClient agent = h.Agent();
        HttpResponseMessage r = await agent.PostAsync("/agent/v1/routes/claude/v1/messages", new StringContent("{}", Encoding.UTF8, "application/json"));
        await Assert.That((await Assert.That(h.Upstream.Received).HasSingleItem())!.Header("Authorization")).IsEqualTo("Bearer " + h.ClaudeAccess);
        h.AssertNoTokenLeaked(await refresh.Content.ReadAsStringAsync(), await r.Content.ReadAsStringAsync());
    }

    [Test]
    public async Task A_narrower_grant_is_accepted_and_stored()
    {
        await using AccountHarness h = await AccountHarness.StartAsync(configure: t => t.GrantScope = "user:inference");

        HttpResponseMessage refresh = await ForceRefreshAsync(h, AccountHarness.ClaudeSlot);

        await Assert.That(refresh.StatusCode).IsEqualTo(HttpStatusCode.OK);
        await Assert.That(Detail(await h.AccountAsync(AccountHarness.ClaudeSlot), "scopes")).IsEqualTo("user:inference");
    }

    [Test]
    public async Task Accounts_close_to_expiry_are_refreshed_in_the_background_without_any_call()
    {
        await using AccountHarness h = await AccountHarness.StartAsync(claudeExpires: DateTimeOffset.UtcNow.AddMinutes(8), refreshIntervalSeconds: "1");

        for (int i = 0; i < 100 && h.Tokens.Requests.IsEmpty; i++)
        {
            await Task.Delay(100);
        }

        TokenRequest only = (await Assert.That(h.Tokens.Requests).HasSingleItem())!;
        await Assert.That(only.Field("refresh_token")).IsEqualTo(h.ClaudeRefresh);
        for (int i = 0; i < 50 && !(await h.AccountAsync(AccountHarness.ClaudeSlot)).GetProperty("details").TryGetProperty("last_refresh_outcome", out _); i++)
        {
            await Task.Delay(100);
        }

        await Assert.That(Detail(await h.AccountAsync(AccountHarness.ClaudeSlot), "last_refresh_outcome")).IsEqualTo("success");
        await Assert.That(await h.Daemon.LogsContainingAsync("background refresh success")).Contains("background refresh success");
        // The Codex account (an hour left) was left alone.
        await Assert.That(h.Tokens.Requests.Any(r => r.Field("refresh_token") == h.CodexRefresh)).IsFalse();
        h.AssertNoTokenLeaked();
    }
}
