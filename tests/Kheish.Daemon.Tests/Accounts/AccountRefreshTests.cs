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

    [Fact]
    public async Task Codex_refresh_sends_what_codex_sends_and_rotates_the_tokens()
    {
        await using AccountHarness h = await AccountHarness.StartAsync(configure: t => t.JwtAccessTokens = true);

        HttpResponseMessage first = await ForceRefreshAsync(h, AccountHarness.CodexSlot);
        HttpResponseMessage second = await ForceRefreshAsync(h, AccountHarness.CodexSlot);

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        TokenRequest[] sent = [.. h.Tokens.Requests];
        Assert.Equal(2, sent.Length);
        Assert.All(sent, r =>
        {
            Assert.Equal("/oauth/token", r.Path);
            Assert.StartsWith("application/json", r.ContentType);
            Assert.Equal("app_EMoamEEZ73f0CkXaXp7hrann", r.Field("client_id"));
            Assert.Equal("refresh_token", r.Field("grant_type"));
            Assert.Equal("openid profile email", r.Field("scope"));
        });
        // Rotation: the imported refresh token once, then the one the first refresh issued; never a token twice.
        Assert.Equal(h.CodexRefresh, sent[0].Field("refresh_token"));
        Assert.Equal(h.Tokens.Issued.First().Refresh, sent[1].Field("refresh_token"));
        JsonElement account = await h.AccountAsync(AccountHarness.CodexSlot);
        Assert.Equal("success", Detail(account, "last_refresh_outcome"));
        // Each token request is an audited external action: started before it went out, then its outcome.
        string ledger = await File.ReadAllTextAsync(Path.Combine(h.Dir.StateRoot, "external-actions", "unscoped.jsonl"));
        string[] refreshRecords = [.. ledger.Split('\n').Where(l => l.Contains("\"kind\":\"account_refresh\"", StringComparison.Ordinal))];
        Assert.Equal(4, refreshRecords.Length);
        Assert.Equal(2, refreshRecords.Count(l => l.Contains("\"phase\":\"started\"", StringComparison.Ordinal)));
        Assert.Equal(2, refreshRecords.Count(l => l.Contains("\"outcome\":\"refreshed\"", StringComparison.Ordinal)));
        Assert.All(refreshRecords, l => Assert.Contains($"\"target\":\"{AccountHarness.CodexSlot} POST {h.Tokens.BaseUrl}/oauth/token\"", l));

        // The route now sends the newest access token with the account id header.
        using HttpClient agent = h.Agent();
        HttpResponseMessage r = await agent.PostAsync("/agent/v1/routes/codex/responses", new StringContent("{\"model\":\"gpt-5-codex\"}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        UpstreamRequest got = Assert.Single(h.Upstream.Received);
        Assert.Equal("/backend-api/codex/responses", got.PathAndQuery);
        Assert.Equal("Bearer " + h.Tokens.Latest.Access, got.Header("Authorization"));
        Assert.Equal(AccountFixtures.CodexAccountId, got.Header("ChatGPT-Account-ID"));
        Assert.DoesNotContain(h.ApiKey, string.Join("\n", got.Headers.Values));
        h.AssertNoTokenLeaked(await first.Content.ReadAsStringAsync(), await second.Content.ReadAsStringAsync(), await r.Content.ReadAsStringAsync(), account.GetRawText());
    }

    [Fact]
    public async Task Eight_concurrent_forced_refreshes_make_exactly_one_token_request()
    {
        await using AccountHarness h = await AccountHarness.StartAsync(configure: t => t.Delay = TimeSpan.FromMilliseconds(700));

        HttpResponseMessage[] answers = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => ForceRefreshAsync(h, AccountHarness.ClaudeSlot)));

        Assert.All(answers, a => Assert.Equal(HttpStatusCode.OK, a.StatusCode));
        TokenRequest only = Assert.Single(h.Tokens.Requests);
        Assert.Equal(h.ClaudeRefresh, only.Field("refresh_token"));
        Assert.Equal("/v1/oauth/token", only.Path);
        Assert.Equal("9d1c250a-e61b-44d9-88ed-5944d1962f5e", only.Field("client_id"));
        Assert.Equal("user:inference user:profile", only.Field("scope"));
        h.AssertNoTokenLeaked();
    }

    [Fact]
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

        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        TokenRequest refresh = Assert.Single(h.Tokens.Requests);
        Assert.Equal(h.ClaudeRefresh, refresh.Field("refresh_token"));
        UpstreamRequest got = Assert.Single(h.Upstream.Received);
        Assert.Equal("/v1/messages?beta=true", got.PathAndQuery);
        Assert.Equal("Bearer " + h.Tokens.Latest.Access, got.Header("Authorization"));
        Assert.Null(got.Header("x-api-key"));
        Assert.Equal("claude-code-20250219,interleaved-thinking-2025-05-14,oauth-2025-04-20", got.Header("anthropic-beta"));
        Assert.Equal("2023-06-01", got.Header("anthropic-version"));
        JsonElement account = await h.AccountAsync(AccountHarness.ClaudeSlot);
        Assert.Equal("success", Detail(account, "last_refresh_outcome"));
        Assert.True(long.Parse(Detail(account, "expires_at_ms"), System.Globalization.CultureInfo.InvariantCulture) > DateTimeOffset.UtcNow.AddMinutes(50).ToUnixTimeMilliseconds());
        h.AssertNoTokenLeaked(await r.Content.ReadAsStringAsync(), account.GetRawText());
    }

    [Fact]
    public async Task A_token_that_is_not_due_is_used_without_a_refresh()
    {
        await using AccountHarness h = await AccountHarness.StartAsync();
        using HttpClient agent = h.Agent();

        HttpResponseMessage r = await agent.PostAsync("/agent/v1/routes/claude/v1/messages", new StringContent("{}", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Empty(h.Tokens.Requests);
        Assert.Equal("Bearer " + h.ClaudeAccess, Assert.Single(h.Upstream.Received).Header("Authorization"));
    }

    [Fact]
    public async Task A_failing_refresh_is_recorded_redacted_and_the_old_token_is_kept()
    {
        await using AccountHarness h = await AccountHarness.StartAsync(configure: t => t.FailStatus = 400);

        HttpResponseMessage refresh = await ForceRefreshAsync(h, AccountHarness.ClaudeSlot);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, refresh.StatusCode);
        string problem = await refresh.Content.ReadAsStringAsync();
        Assert.Contains("account_refresh_failed", ProblemDetail(problem));
        Assert.Contains("`kheish-daemon secrets import-claude-code anthropic.claude`", ProblemDetail(problem));
        JsonElement account = await h.AccountAsync(AccountHarness.ClaudeSlot);
        Assert.Equal("failure", Detail(account, "last_refresh_outcome"));
        Assert.Equal("the token endpoint answered 400 (invalid_grant)", Detail(account, "last_refresh_error"));
        Assert.DoesNotContain("already used", account.GetRawText());
        // The previous (still valid) token keeps working.
        using HttpClient agent = h.Agent();
        HttpResponseMessage r = await agent.PostAsync("/agent/v1/routes/claude/v1/messages", new StringContent("{}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal("Bearer " + h.ClaudeAccess, Assert.Single(h.Upstream.Received).Header("Authorization"));
        h.AssertNoTokenLeaked(problem, account.GetRawText());
    }

    [Fact]
    public async Task An_expired_token_whose_refresh_fails_gets_a_503_naming_the_slot_and_the_fix()
    {
        await using AccountHarness h = await AccountHarness.StartAsync(claudeExpires: DateTimeOffset.UtcNow.AddMinutes(-5), configure: t => t.FailStatus = 401);
        using HttpClient agent = h.Agent();

        HttpResponseMessage r = await agent.PostAsync("/agent/v1/routes/claude/v1/messages", new StringContent("{}", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, r.StatusCode);
        string problem = await r.Content.ReadAsStringAsync();
        string detail = ProblemDetail(problem);
        Assert.StartsWith("account_refresh_failed: route `claude`: account slot anthropic.claude (Claude Code) could not be refreshed: the token endpoint answered 401 (invalid_grant)", detail);
        Assert.Contains("`kheish-daemon secrets import-claude-code anthropic.claude`", detail);
        Assert.Empty(h.Upstream.Received);
        h.AssertNoTokenLeaked(problem);
    }

    [Fact]
    public async Task A_refresh_granting_scopes_not_held_before_is_refused()
    {
        await using AccountHarness h = await AccountHarness.StartAsync(configure: t => t.GrantScope = "user:inference user:profile org:create_api_key");

        HttpResponseMessage refresh = await ForceRefreshAsync(h, AccountHarness.ClaudeSlot);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, refresh.StatusCode);
        JsonElement account = await h.AccountAsync(AccountHarness.ClaudeSlot);
        Assert.Equal("failure", Detail(account, "last_refresh_outcome"));
        Assert.Contains("org:create_api_key", Detail(account, "last_refresh_error"));
        Assert.Contains("no escalation", Detail(account, "last_refresh_error"));
        Assert.Equal("user:inference user:profile", Detail(account, "scopes"));
        using HttpClient agent = h.Agent();
        HttpResponseMessage r = await agent.PostAsync("/agent/v1/routes/claude/v1/messages", new StringContent("{}", Encoding.UTF8, "application/json"));
        Assert.Equal("Bearer " + h.ClaudeAccess, Assert.Single(h.Upstream.Received).Header("Authorization"));
        h.AssertNoTokenLeaked(await refresh.Content.ReadAsStringAsync(), await r.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_narrower_grant_is_accepted_and_stored()
    {
        await using AccountHarness h = await AccountHarness.StartAsync(configure: t => t.GrantScope = "user:inference");

        HttpResponseMessage refresh = await ForceRefreshAsync(h, AccountHarness.ClaudeSlot);

        Assert.Equal(HttpStatusCode.OK, refresh.StatusCode);
        Assert.Equal("user:inference", Detail(await h.AccountAsync(AccountHarness.ClaudeSlot), "scopes"));
    }

    [Fact]
    public async Task Accounts_close_to_expiry_are_refreshed_in_the_background_without_any_call()
    {
        await using AccountHarness h = await AccountHarness.StartAsync(claudeExpires: DateTimeOffset.UtcNow.AddMinutes(8), refreshIntervalSeconds: "1");

        for (int i = 0; i < 100 && h.Tokens.Requests.IsEmpty; i++)
        {
            await Task.Delay(100);
        }

        TokenRequest only = Assert.Single(h.Tokens.Requests);
        Assert.Equal(h.ClaudeRefresh, only.Field("refresh_token"));
        for (int i = 0; i < 50 && !(await h.AccountAsync(AccountHarness.ClaudeSlot)).GetProperty("details").TryGetProperty("last_refresh_outcome", out _); i++)
        {
            await Task.Delay(100);
        }

        Assert.Equal("success", Detail(await h.AccountAsync(AccountHarness.ClaudeSlot), "last_refresh_outcome"));
        Assert.Contains("background refresh success", h.Daemon.Logs);
        // The Codex account (an hour left) was left alone.
        Assert.DoesNotContain(h.Tokens.Requests, r => r.Field("refresh_token") == h.CodexRefresh);
        h.AssertNoTokenLeaked();
    }
}
