using Kheish.Core.Errors;

namespace Kheish.Core.Policy;

/// <summary>
/// What a key or a session may <em>see and call</em> through the MCP gateway (the seed's
/// CapabilityScope, apart from the credential scope, which bounds what it may <em>resolve</em>).
/// Entries are gateway tool names <c>&lt;server&gt;__&lt;tool&gt;</c> or <c>*</c> globs of them
/// (<see cref="ToolPolicy.Matches"/>). A tool is allowed when every allow list matches it (none
/// given: no bound) and no deny entry does: deny wins.
/// <para>
/// <see cref="Intersect"/> keeps both sides' allow lists (the first as <see cref="ToolAllow"/>,
/// the others in <see cref="ToolAllowAlso"/>) and unions the denies, so the intersection allows
/// exactly what both allow: it never widens, and two disjoint allow lists allow nothing.
/// </para>
/// </summary>
internal sealed record CapabilityScope
{
    public const int MaxEntries = 256;
    public const int MaxEntryLength = 256;

    public IReadOnlyList<string>? ToolAllow { get; init; }

    public IReadOnlyList<string>? ToolDeny { get; init; }

    /// <summary>Further allow lists a tool must also match: written by <see cref="Intersect"/> only (a key or session request may not set it).</summary>
    public IReadOnlyList<IReadOnlyList<string>>? ToolAllowAlso { get; init; }

    public static CapabilityScope Unrestricted { get; } = new();

    [System.Text.Json.Serialization.JsonIgnore]
    public bool IsUnrestricted => ToolAllow is null && ToolDeny is not { Count: > 0 } && ToolAllowAlso is not { Count: > 0 };

    /// <summary>Whether gateway tool <paramref name="name"/> may be listed and called.</summary>
    public bool Allows(string name)
    {
        if (ToolDeny is { } deny && deny.Any(p => ToolPolicy.Matches(p, name)))
        {
            return false;
        }

        return AllowLists().All(list => list.Any(p => ToolPolicy.Matches(p, name)));
    }

    /// <summary>The scope allowing exactly what both allow.</summary>
    public static CapabilityScope Intersect(CapabilityScope? a, CapabilityScope? b)
    {
        if (a is null || a.IsUnrestricted)
        {
            return b ?? Unrestricted;
        }

        if (b is null || b.IsUnrestricted)
        {
            return a;
        }

        var allows = new List<IReadOnlyList<string>>();
        foreach (IReadOnlyList<string> list in a.AllowLists().Concat(b.AllowLists()))
        {
            if (!allows.Any(l => l.SequenceEqual(list, StringComparer.Ordinal)))
            {
                allows.Add(list);
            }
        }

        string[] deny = [.. (a.ToolDeny ?? []).Concat(b.ToolDeny ?? []).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];
        return new CapabilityScope
        {
            ToolAllow = allows.Count > 0 ? allows[0] : null,
            ToolAllowAlso = allows.Count > 1 ? [.. allows.Skip(1)] : null,
            ToolDeny = deny.Length > 0 ? deny : null,
        };
    }

    /// <summary>
    /// A child's scope under its parent's: a literal (glob-free) name the child allows must be one
    /// the parent allows, else <c>capability_widens_parent</c> naming it; the result is the
    /// intersection, so a child never sees or calls more than its parent, globs included.
    /// </summary>
    public static Result<CapabilityScope> Narrow(CapabilityScope? parent, CapabilityScope? child)
    {
        if (parent is not null && child?.ToolAllow is { } allow)
        {
            string[] outside = [.. allow.Where(e => !e.Contains('*', StringComparison.Ordinal) && !parent.Allows(e))];
            if (outside.Length > 0)
            {
                return KheishError.BadRequest("capability_widens_parent",
                    $"capability_scope.tool_allow names tools outside the parent session's capability scope: {string.Join(", ", outside.Select(e => "`" + e + "`"))}");
            }
        }

        return Intersect(parent, child);
    }

    /// <summary>Null when well formed (as a key or session gives it), else what is wrong, naming the field and index.</summary>
    public string? Validate(string field = "capability_scope")
    {
        if (ToolAllowAlso is not null)
        {
            return $"{field}.tool_allow_also is written by the daemon when scopes are intersected; give tool_allow and tool_deny only";
        }

        if (ToolAllow is { Count: 0 })
        {
            return $"{field}.tool_allow is empty, which would bound nothing; to allow no tool at all, give tool_deny = [\"*\"]";
        }

        foreach (var (name, list) in new[] { ("tool_allow", ToolAllow), ("tool_deny", ToolDeny) })
        {
            if (list is null)
            {
                continue;
            }

            if (list.Count > MaxEntries)
            {
                return $"{field}.{name} has {list.Count} entries; at most {MaxEntries} are allowed";
            }

            for (int i = 0; i < list.Count; i++)
            {
                string? e = list[i];
                if (e is null || e.Length is 0 or > MaxEntryLength || !e.All(c => c is > ' ' and <= '~'))
                {
                    return $"{field}.{name}[{i}] must be a gateway tool name <server>__<tool> or a `*` glob of them (1-{MaxEntryLength} printable ASCII characters, no spaces)";
                }
            }
        }

        return null;
    }

    private IEnumerable<IReadOnlyList<string>> AllowLists()
    {
        if (ToolAllow is not null)
        {
            yield return ToolAllow;
        }

        foreach (IReadOnlyList<string> more in ToolAllowAlso ?? [])
        {
            yield return more;
        }
    }
}
