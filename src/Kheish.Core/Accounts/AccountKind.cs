using Kheish.Core.Secrets;

namespace Kheish.Core.Accounts;

/// <summary>The CLI logins the daemon can hold: which provider slot they live in and how they are imported.</summary>
internal enum AccountKind
{
    /// <summary>A Codex CLI ChatGPT login (<c>$CODEX_HOME/auth.json</c>); slot provider <c>openai</c>.</summary>
    Codex,

    /// <summary>A Claude Code subscription login (<c>~/.claude/.credentials.json</c>); slot provider <c>anthropic</c>.</summary>
    ClaudeCode,

    /// <summary>An MCP OAuth account made by <c>mcp oauth login</c>; slot provider <c>mcp_oauth</c>, slot <c>mcp.oauth.&lt;id&gt;</c>.</summary>
    McpOauth,
}

internal static class AccountKinds
{
    /// <summary>The account kind an <c>oauth_account</c> slot of this provider holds, or null (no account support).</summary>
    public static AccountKind? Of(SlotProvider provider, SlotMode mode) => (provider, mode) switch
    {
        (SlotProvider.OpenAi, SlotMode.OauthAccount) => AccountKind.Codex,
        (SlotProvider.Anthropic, SlotMode.OauthAccount) => AccountKind.ClaudeCode,
        (SlotProvider.McpOauth, SlotMode.OauthAccount) => AccountKind.McpOauth,
        _ => null,
    };

    public static AccountKind? Of(SlotRecord record) => Of(record.Provider, record.Mode);

    public static SlotProvider Provider(this AccountKind kind) => kind switch
    {
        AccountKind.Codex => SlotProvider.OpenAi,
        AccountKind.ClaudeCode => SlotProvider.Anthropic,
        _ => SlotProvider.McpOauth,
    };

    /// <summary>The verb that (re)imports this kind: named in every "log in again" hint.</summary>
    public static string ImportVerb(this AccountKind kind) =>
        kind == AccountKind.Codex ? "import-codex" : "import-claude-code";

    /// <summary>The command that makes this account again, for the "log in again" hints.</summary>
    public static string LoginHint(this AccountKind kind, string slotId) => kind == AccountKind.McpOauth
        ? $"run `kheish-daemon mcp oauth login {McpOauthAccount.IdOf(slotId)} --url <server url>` again"
        : $"log in again with the {kind.Label()} CLI and run `kheish-daemon secrets {kind.ImportVerb()} {slotId}` again";

    public static string Label(this AccountKind kind) => kind switch
    {
        AccountKind.Codex => "Codex",
        AccountKind.ClaudeCode => "Claude Code",
        _ => "MCP OAuth",
    };
}
