using Kheish.Core.Text;

namespace Kheish.Core.Policy;

/// <summary>
/// One of a server's policy hooks (<c>[mcp_servers.&lt;name&gt;.hooks.&lt;hook&gt;]</c>, or
/// <c>"hooks"</c> in a daemon-managed definition): an external command a <c>hook:&lt;hook&gt;</c>
/// tool_policy value asks about every call. It gets the call as JSON on stdin and answers
/// <c>allow</c>, <c>deny</c> or <c>approve</c> on stdout within <see cref="TimeoutMs"/>; anything
/// else denies (see <see cref="PolicyHookRunner"/>).
/// </summary>
internal sealed record PolicyHook
{
    public const int MaxNameLength = 64;
    public const int DefaultTimeoutMs = 5000;
    public const int MaxTimeoutMs = 60_000;
    public const int MaxHooks = 32;

    /// <summary>The program and its arguments (no shell): <c>command[0]</c> is a path or a name looked up on the daemon's PATH.</summary>
    public IReadOnlyList<string>? Command { get; init; }

    /// <summary>How long the hook may take to answer (default 5000 ms, at most 60000).</summary>
    public int? TimeoutMs { get; init; }

    [System.Text.Json.Serialization.JsonIgnore]
    public TimeSpan Timeout => TimeSpan.FromMilliseconds(TimeoutMs ?? DefaultTimeoutMs);

    public static bool IsValidName(string? name) =>
        name is { Length: > 0 and <= MaxNameLength } && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');

    /// <summary>Every problem of a server's <c>hooks</c> table, each naming the hook and the field.</summary>
    public static IEnumerable<(string Code, string Message)> Check(IReadOnlyDictionary<string, PolicyHook>? hooks)
    {
        if (hooks is null)
        {
            yield break;
        }

        if (hooks.Count > MaxHooks)
        {
            yield return ("mcp_hook_invalid", $"`hooks` has {hooks.Count} entries; at most {MaxHooks} are allowed");
        }

        foreach (var (name, hook) in hooks.OrderBy(h => h.Key, StringComparer.Ordinal))
        {
            if (!IsValidName(name))
            {
                yield return ("mcp_hook_name_invalid", $"hook name `{Mcp.McpServerValidator.Printable(name)}` is not 1-{MaxNameLength} letters, digits, '-' or '_'");
                continue;
            }

            if (hook is null || hook.Command is not { Count: > 0 } command)
            {
                yield return ("mcp_hook_command_invalid", $"`hooks.{name}.command` is required: an array of the program and its arguments, e.g. [\"/usr/local/bin/check-call\", \"--strict\"]");
                continue;
            }

            if (string.IsNullOrWhiteSpace(command[0]) || ControlCharacters.In(command[0]))
            {
                yield return ("mcp_hook_command_invalid", $"`hooks.{name}.command[0]` must be a non-empty program name or path");
            }
            else if (command[0].Contains('/', StringComparison.Ordinal) && !Path.IsPathRooted(command[0]))
            {
                yield return ("mcp_hook_command_invalid", $"`hooks.{name}.command[0]` must be an absolute path or a bare name looked up on PATH (a relative path depends on the daemon's working directory)");
            }

            for (int i = 1; i < command.Count; i++)
            {
                if (command[i] is null || command[i].Contains('\0', StringComparison.Ordinal))
                {
                    yield return ("mcp_hook_command_invalid", $"`hooks.{name}.command[{i}]` must be a string without NUL");
                }
            }

            if (hook.TimeoutMs is { } t && t is < 1 or > MaxTimeoutMs)
            {
                yield return ("mcp_hook_timeout_invalid", $"`hooks.{name}.timeout_ms` = {t} is out of range: give 1 to {MaxTimeoutMs} (default {DefaultTimeoutMs})");
            }
        }
    }
}
