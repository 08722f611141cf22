using Kheish.Core.Secrets;

namespace Kheish.Core.Accounts;

/// <summary>The CLI logins the daemon can hold: which provider slot they live in and how they are imported.</summary>
internal enum AccountKind
{
    /// <summary>A Codex CLI ChatGPT login (<c>$CODEX_HOME/auth.json</c>); slot provider <c>openai</c>.</summary>
    Codex,

    /// <summary>A Claude Code subscription login (<c>~/.claude/.credentials.json</c>); slot provider <c>anthropic</c>.</summary>
    ClaudeCode,
}

internal static class AccountKinds
{
    /// <summary>The account kind an <c>oauth_account</c> slot of this provider holds, or null (MCP OAuth, or no account support).</summary>
    public static AccountKind? Of(SlotProvider provider, SlotMode mode) => (provider, mode) switch
    {
        (SlotProvider.OpenAi, SlotMode.OauthAccount) => AccountKind.Codex,
        (SlotProvider.Anthropic, SlotMode.OauthAccount) => AccountKind.ClaudeCode,
        _ => null,
    };

    public static AccountKind? Of(SlotRecord record) => Of(record.Provider, record.Mode);

    public static SlotProvider Provider(this AccountKind kind) =>
        kind == AccountKind.Codex ? SlotProvider.OpenAi : SlotProvider.Anthropic;

    /// <summary>The verb that (re)imports this kind: named in every "log in again" hint.</summary>
    public static string ImportVerb(this AccountKind kind) =>
        kind == AccountKind.Codex ? "import-codex" : "import-claude-code";

    public static string Label(this AccountKind kind) => kind == AccountKind.Codex ? "Codex" : "Claude Code";
}
