namespace Kheish.Core.Policy;

/// <summary>What the gateway does with a call to one upstream tool.</summary>
internal enum ToolDecision
{
    Allow,
    Deny,
    Approve,

    /// <summary>A <c>hook:&lt;name&gt;</c> value: the server's policy hook decides each call (see <see cref="PolicyHook"/>).</summary>
    Hook,
}

/// <summary>
/// A server's <c>tool_policy</c>: upstream tool names or <c>*</c> globs mapped to
/// <c>allow</c>, <c>deny</c> or <c>approve</c>. The most specific matching key wins: an exact
/// name beats every glob; among globs, the one with more literal (non-<c>*</c>) characters
/// wins; on a tie the stricter decision wins (deny, then approve, then hook, then allow). No match: allow.
/// A value <c>hook:&lt;name&gt;</c> names one of the server's <c>hooks</c>, asked on every call.
/// </summary>
internal sealed class ToolPolicy
{
    public const int MaxRules = 256;
    public const int MaxKeyLength = 128;
    public const int DefaultApprovalTimeoutSec = 300;
    public const string HookPrefix = "hook:";

    public static readonly ToolPolicy AllowAll = new([]);

    private readonly IReadOnlyList<(string Pattern, ToolDecision Decision, string? Hook)> _rules;

    private ToolPolicy(IReadOnlyList<(string Pattern, ToolDecision Decision, string? Hook)> rules) => _rules = rules;

    public bool IsEmpty => _rules.Count == 0;

    /// <summary>The policy of validated rules (invalid entries are skipped: callers validate first with <see cref="Check"/>).</summary>
    /// <param name="allowHooks">False for a key's mcp_tool_policy: a key has no hooks, so a <c>hook:</c> value is not a rule there.</param>
    public static ToolPolicy From(IReadOnlyDictionary<string, string>? rules, bool allowHooks = true)
    {
        if (rules is null || rules.Count == 0)
        {
            return AllowAll;
        }

        var list = new List<(string, ToolDecision, string?)>();
        foreach (var (key, value) in rules)
        {
            if (!IsValidKey(key))
            {
                continue;
            }

            if (TryParse(value, out ToolDecision d))
            {
                list.Add((key, d, null));
            }
            else if (allowHooks && TryParseHook(value, out string? hook))
            {
                list.Add((key, ToolDecision.Hook, hook));
            }
        }

        return new ToolPolicy(list);
    }

    public static bool TryParse(string? value, out ToolDecision decision)
    {
        switch (value)
        {
            case "allow": decision = ToolDecision.Allow; return true;
            case "deny": decision = ToolDecision.Deny; return true;
            case "approve": decision = ToolDecision.Approve; return true;
            default: decision = ToolDecision.Deny; return false;
        }
    }

    /// <summary>A <c>hook:&lt;name&gt;</c> value with a well-formed name (see <see cref="PolicyHook.IsValidName"/>).</summary>
    public static bool TryParseHook(string? value, out string? hook)
    {
        hook = value is not null && value.StartsWith(HookPrefix, StringComparison.Ordinal) ? value[HookPrefix.Length..] : null;
        return PolicyHook.IsValidName(hook);
    }

    public static string Name(ToolDecision d) => d switch
    {
        ToolDecision.Allow => "allow",
        ToolDecision.Deny => "deny",
        ToolDecision.Hook => "hook",
        _ => "approve",
    };

    /// <summary>A key is 1-128 printable ASCII characters (an upstream tool name, or a glob of them).</summary>
    public static bool IsValidKey(string? key) =>
        key is { Length: > 0 and <= MaxKeyLength } && key.All(c => c is >= ' ' and <= '~');

    /// <summary>
    /// Every problem of a <c>tool_policy</c> table, each naming the server, the key and the
    /// value (policy keys and values are configuration, shown only when printable).
    /// </summary>
    /// <param name="hooks">The server's hook names (a <c>hook:</c> value must name one); null: hooks are not available here.</param>
    public static IEnumerable<(string Code, string Message)> Check(IReadOnlyDictionary<string, string>? rules, string field = "tool_policy", IReadOnlyCollection<string>? hooks = null)
    {
        if (rules is null)
        {
            yield break;
        }

        if (rules.Count > MaxRules)
        {
            yield return ("mcp_tool_policy_invalid", $"`{field}` has {rules.Count} entries; at most {MaxRules} are allowed");
        }

        foreach (var (key, value) in rules.OrderBy(r => r.Key, StringComparer.Ordinal))
        {
            if (!IsValidKey(key))
            {
                yield return ("mcp_tool_policy_key_invalid", $"`{field}` key `{Mcp.McpServerValidator.Printable(key)}` is not a tool name or glob (1-{MaxKeyLength} printable ASCII characters; `*` matches any run of characters)");
            }
            else if (TryParse(value, out _))
            {
                continue;
            }
            else if (hooks is not null && value is not null && value.StartsWith(HookPrefix, StringComparison.Ordinal))
            {
                if (!TryParseHook(value, out string? hook))
                {
                    yield return ("mcp_tool_policy_hook_invalid", $"`{field}.\"{key}\"` = `{Mcp.McpServerValidator.Printable(value)}`: a hook name is 1-{PolicyHook.MaxNameLength} letters, digits, '-' or '_'");
                }
                else if (!hooks.Contains(hook!))
                {
                    yield return ("mcp_tool_policy_hook_unknown", hooks.Count == 0
                        ? $"`{field}.\"{key}\"` = `{value}` names hook `{hook}`, but the server defines no `hooks`; add [mcp_servers.<name>.hooks.{hook}] with `command` and `timeout_ms`"
                        : $"`{field}.\"{key}\"` = `{value}` names hook `{hook}`, which is not in this server's `hooks` (defined: {string.Join(", ", hooks.Order(StringComparer.Ordinal))})");
                }
            }
            else
            {
                yield return ("mcp_tool_policy_invalid", hooks is null
                    ? $"`{field}.\"{key}\"` = `{Mcp.McpServerValidator.Printable(value)}` is not a policy: use \"allow\", \"deny\" or \"approve\""
                    : $"`{field}.\"{key}\"` = `{Mcp.McpServerValidator.Printable(value)}` is not a policy: use \"allow\", \"deny\", \"approve\" or \"hook:<name>\"");
            }
        }
    }

    /// <summary>The decision for upstream tool <paramref name="tool"/>, and the key that gave it (null: the default).</summary>
    public ToolDecision Resolve(string tool, out string? matchedKey) => Resolve(tool, out matchedKey, out _);

    /// <summary>As <see cref="Resolve(string, out string?)"/>, with the hook's name when the decision is <see cref="ToolDecision.Hook"/>.</summary>
    public ToolDecision Resolve(string tool, out string? matchedKey, out string? hookName)
    {
        matchedKey = null;
        hookName = null;
        ToolDecision best = ToolDecision.Allow;
        int bestRank = -1;
        foreach ((string pattern, ToolDecision decision, string? hook) in _rules)
        {
            if (!Matches(pattern, tool))
            {
                continue;
            }

            // Exact names outrank every glob; globs rank by their literal characters.
            int rank = pattern.Contains('*', StringComparison.Ordinal) ? pattern.Count(c => c != '*') : int.MaxValue;
            if (rank > bestRank || (rank == bestRank && Strictness(decision) > Strictness(best)))
            {
                best = decision;
                bestRank = rank;
                matchedKey = pattern;
                hookName = hook;
            }
        }

        return best;
    }

    public ToolDecision Resolve(string tool) => Resolve(tool, out _, out _);

    /// <summary>
    /// The stricter of two decisions (deny, then approve, then hook, then allow): how a key's
    /// policy narrows a server's, never widening it. A hook's own answer is combined the same way.
    /// </summary>
    public static ToolDecision Stricter(ToolDecision a, ToolDecision b) => Strictness(a) >= Strictness(b) ? a : b;

    private static int Strictness(ToolDecision d) => d switch
    {
        ToolDecision.Deny => 3,
        ToolDecision.Approve => 2,
        ToolDecision.Hook => 1,
        _ => 0,
    };

    /// <summary><c>*</c> matches any run of characters (none included); everything else matches itself, case-sensitively.</summary>
    public static bool Matches(string pattern, string text)
    {
        int p = 0, t = 0, star = -1, mark = 0;
        while (t < text.Length)
        {
            if (p < pattern.Length && pattern[p] == '*')
            {
                star = p++;
                mark = t;
            }
            else if (p < pattern.Length && pattern[p] == text[t])
            {
                p++;
                t++;
            }
            else if (star >= 0)
            {
                p = star + 1;
                t = ++mark;
            }
            else
            {
                return false;
            }
        }

        while (p < pattern.Length && pattern[p] == '*')
        {
            p++;
        }

        return p == pattern.Length;
    }
}
