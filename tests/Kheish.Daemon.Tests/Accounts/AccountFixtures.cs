using System.Text;
using System.Text.Json;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Accounts;

/// <summary>Login files shaped like the ones Codex and Claude Code write, holding canary tokens.</summary>
public static class AccountFixtures
{
    public const string CodexAccountId = "acct-test-1234";

    /// <summary>An unsigned JWT (the daemon reads exp, scp and the ChatGPT account id; the upstream verifies signatures).</summary>
    public static string Jwt(DateTimeOffset expires, string? accountId = CodexAccountId, string[]? scopes = null, string? marker = null)
    {
        var payload = new Dictionary<string, object>
        {
            ["exp"] = expires.ToUnixTimeSeconds(),
            ["jti"] = marker ?? Canary.New("jti"),
        };
        if (accountId is not null)
        {
            payload["https://api.openai.com/auth"] = new Dictionary<string, string> { ["chatgpt_account_id"] = accountId };
        }

        if (scopes is not null)
        {
            payload["scp"] = scopes;
        }

        return B64("{\"alg\":\"none\",\"typ\":\"JWT\"}") + "." + B64(JsonSerializer.Serialize(payload)) + ".c2ln";
    }

    public static string CodexAuthJson(string accessToken, string refreshToken, string? accountId = CodexAccountId) =>
        JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["auth_mode"] = "chatgpt",
            ["OPENAI_API_KEY"] = null,
            ["tokens"] = new Dictionary<string, string?>
            {
                ["id_token"] = Jwt(DateTimeOffset.UtcNow.AddHours(1), accountId),
                ["access_token"] = accessToken,
                ["refresh_token"] = refreshToken,
                ["account_id"] = accountId,
            },
            ["last_refresh"] = "2026-01-01T00:00:00Z",
        });

    public static string ClaudeCredentialsJson(string accessToken, string refreshToken, DateTimeOffset expires, string[]? scopes = null, string subscription = "max") =>
        JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["claudeAiOauth"] = new Dictionary<string, object>
            {
                ["accessToken"] = accessToken,
                ["refreshToken"] = refreshToken,
                ["expiresAt"] = expires.ToUnixTimeMilliseconds(),
                ["scopes"] = scopes ?? ["user:inference", "user:profile"],
                ["subscriptionType"] = subscription,
                ["rateLimitTier"] = "default_claude_max_20x",
            },
        });

    /// <summary>Writes a login file with mode 0600 (as the CLIs do).</summary>
    public static string Write(TempDir dir, string name, string contents)
    {
        string path = dir.File(name);
        File.WriteAllText(path, contents);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return path;
    }

    private static string B64(string text) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes(text)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
