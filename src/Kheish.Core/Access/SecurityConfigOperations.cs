using Kheish.Core.Errors;

namespace Kheish.Core.Access;

/// <summary>A security.json file chosen for an edit.</summary>
internal sealed record SecurityConfigTarget(SecurityConfigOrigin Origin, string File)
{
    /// <summary>
    /// <paramref name="global"/> → the global file; an explicit project root → that project's
    /// file; neither → the file in effect for <paramref name="location"/> (its project file,
    /// else the global file), or a new project file when neither exists.
    /// </summary>
    public static SecurityConfigTarget Choose(SecurityConfigLocation location, bool global, bool projectRootGiven)
    {
        if (global)
        {
            return new(SecurityConfigOrigin.Global, location.GlobalFile);
        }

        if (!projectRootGiven
            && FileStamp.Of(location.ProjectFile).Kind == FileStampKind.Absent
            && FileStamp.Of(location.GlobalFile).Kind != FileStampKind.Absent)
        {
            return new(SecurityConfigOrigin.Global, location.GlobalFile);
        }

        return new(SecurityConfigOrigin.Project, location.ProjectFile);
    }
}

/// <summary>
/// The edits an operator makes to security.json, shared by the CLI and the admin HTTP API
/// (<c>/v1/runtime/security</c>). Each is one locked read-modify-write; none prints or logs a key.
/// </summary>
internal static class SecurityConfigOperations
{
    /// <summary>Adds a new key; the caller shows <c>Key</c> once and never again.</summary>
    public static Result<(ApiKeyEntry Entry, string Key)> GenerateKey(SecurityConfigTarget target, string? principal, ApiKeyScope? scope, ApiKeyLimits? limits = null)
    {
        if (limits?.Validate() is { } limitProblem)
        {
            return KheishError.BadRequest("invalid_limits", limitProblem);
        }

        if (principal is not null && !SecurityConfigFile.IsValidPrincipal(principal))
        {
            return KheishError.BadRequest("invalid_principal", "the principal must be 1-128 printable characters without spaces");
        }

        if (scope?.Validate() is { } problem)
        {
            return KheishError.BadRequest("invalid_scope", "scope." + problem);
        }

        string key = ApiKeys.Generate();
        Result<ApiKeyEntry> added = SecurityConfigEditor.Edit<ApiKeyEntry>(target.Origin, target.File, config =>
        {
            ApiKeyEntry entry = NewEntry(key, principal, scope) with { Limits = limits is { IsEmpty: false } ? limits : null };
            return (config.WithKey(entry), entry);
        });
        if (!added.TryGetValue(out ApiKeyEntry? created, out KheishError? error))
        {
            return error;
        }

        return (created, key);
    }

    /// <summary>Removes the key with this id, or whose value this is. Returns the id removed.</summary>
    public static Result<string> RevokeKey(SecurityConfigTarget target, string idOrKey)
    {
        string wanted = idOrKey.Trim();
        return SecurityConfigEditor.Edit<string>(target.Origin, target.File, config =>
        {
            ApiKeyEntry? entry = config.FindById(wanted)
                ?? (wanted.Length is > 0 and <= ApiKeys.MaxPresentedLength ? config.FindByDigest(ApiKeys.Digest(wanted)) : null);
            if (entry is null)
            {
                // Never echo the argument: it may be a key.
                return KheishError.NotFound("api_key_not_found", $"no API key with that id or value in {target.File} (see 'security status')");
            }

            return (config.WithoutKey(entry.Id), entry.Id);
        });
    }

    /// <summary>Adds an allowlist entry; Changed is false when it was already there.</summary>
    public static Result<(IpRule Rule, bool Changed)> AllowIp(SecurityConfigTarget target, string? entry)
    {
        Result<IpRule> parsed = IpRule.Parse(entry);
        if (!parsed.TryGetValue(out IpRule rule, out KheishError? parseError))
        {
            return parseError;
        }

        return SecurityConfigEditor.Edit<(IpRule, bool)>(target.Origin, target.File, config =>
            config.AllowedIps.Rules.Contains(rule)
                ? (config, (rule, false))
                : (config.WithAllowedIps([.. config.AllowedIps.Rules, rule]), (rule, true)));
    }

    /// <summary>
    /// Removes an allowlist entry. Removing the last one would let EVERY address in (an empty
    /// list means everyone), so that needs <paramref name="allowEmpty"/>.
    /// </summary>
    public static Result<(IpRule Rule, int Remaining)> DenyIp(SecurityConfigTarget target, string? entry, bool allowEmpty)
    {
        Result<IpRule> parsed = IpRule.Parse(entry);
        if (!parsed.TryGetValue(out IpRule rule, out KheishError? parseError))
        {
            return parseError;
        }

        return SecurityConfigEditor.Edit<(IpRule, int)>(target.Origin, target.File, config =>
        {
            if (!config.AllowedIps.Rules.Contains(rule))
            {
                return KheishError.NotFound("ip_not_listed", $"{rule} is not in the allowlist of {target.File} (entries: {string.Join(", ", config.AllowedIps.Entries)})");
            }

            if (config.AllowedIps.Rules.Count == 1 && !allowEmpty)
            {
                return KheishError.Conflict(
                    "allowlist_would_be_empty",
                    $"{rule} is the last entry: an empty allowlist lets EVERY address connect. Add another entry first, or pass --allow-empty.");
            }

            List<IpRule> rest = [.. config.AllowedIps.Rules.Where(r => r != rule)];
            return (config.WithAllowedIps(rest), (rule, rest.Count));
        });
    }

    /// <summary>
    /// Adds a reverse proxy whose <c>X-Forwarded-For</c> is believed for the client address;
    /// Changed is false when it was already trusted.
    /// </summary>
    public static Result<(IpRule Rule, bool Changed)> TrustProxy(SecurityConfigTarget target, string? entry)
    {
        Result<IpRule> parsed = IpRule.Parse(entry);
        if (!parsed.TryGetValue(out IpRule rule, out KheishError? parseError))
        {
            return parseError;
        }

        return SecurityConfigEditor.Edit<(IpRule, bool)>(target.Origin, target.File, config =>
            config.TrustedProxies.Rules.Contains(rule)
                ? (config, (rule, false))
                : (config.WithTrustedProxies([.. config.TrustedProxies.Rules, rule]), (rule, true)));
    }

    /// <summary>Removes a trusted proxy (an empty list simply ignores <c>X-Forwarded-For</c>: no guard needed).</summary>
    public static Result<(IpRule Rule, int Remaining)> UntrustProxy(SecurityConfigTarget target, string? entry)
    {
        Result<IpRule> parsed = IpRule.Parse(entry);
        if (!parsed.TryGetValue(out IpRule rule, out KheishError? parseError))
        {
            return parseError;
        }

        return SecurityConfigEditor.Edit<(IpRule, int)>(target.Origin, target.File, config =>
        {
            if (!config.TrustedProxies.Rules.Contains(rule))
            {
                return KheishError.NotFound(
                    "proxy_not_trusted",
                    $"{rule} is not a trusted proxy in {target.File} (trusted: {(config.TrustedProxies.IsEmpty ? "none" : string.Join(", ", config.TrustedProxies.Entries))})");
            }

            List<IpRule> rest = [.. config.TrustedProxies.Rules.Where(r => r != rule)];
            return (config.WithTrustedProxies(rest), (rule, rest.Count));
        });
    }

    /// <summary>Sets the mode; returns the number of keys configured (strict with none refuses everything).</summary>
    public static Result<int> SetMode(SecurityConfigTarget target, SecurityMode mode) =>
        SecurityConfigEditor.Edit<int>(target.Origin, target.File, config =>
            (config.Mode == mode ? config : config.WithMode(mode), config.ApiKeys.Count));

    /// <summary>Applies confirmed wizard choices; returns the new key when one was asked for.</summary>
    /// <param name="keepExistingKeys">
    /// Non-interactive setup is rerun by scripts: a file that already has a key gets no second one
    /// (<c>security generate-key</c> adds more on purpose).
    /// </param>
    public static Result<(ApiKeyEntry Entry, string Key)?> ApplySetup(SecuritySetupChoices choices, string? principal, bool keepExistingKeys = false)
    {
        string? key = choices.GenerateKey ? ApiKeys.Generate() : null;
        Result<ApiKeyEntry?> written = SecurityConfigEditor.Edit<ApiKeyEntry?>(choices.Target, choices.File, existing =>
        {
            SecurityConfig config = existing.WithMode(choices.Mode).WithAllowedIps(choices.AllowedIps);
            ApiKeyEntry? entry = key is null || (keepExistingKeys && existing.ApiKeys.Count > 0) ? null : NewEntry(key, principal, null);
            return (entry is null ? config : config.WithKey(entry), entry);
        });
        if (!written.TryGetValue(out ApiKeyEntry? created, out KheishError? error))
        {
            return error;
        }

        return created is null ? ((ApiKeyEntry, string)?)null : (created, key!);
    }

    private static ApiKeyEntry NewEntry(string key, string? principal, ApiKeyScope? scope)
    {
        KeyDigest digest = ApiKeys.Digest(key);
        string id = ApiKeys.DeriveId(digest);
        return new ApiKeyEntry
        {
            Id = id,
            Digest = digest,
            Principal = principal ?? ApiKeyEntry.DefaultPrincipal(id),
            Scope = scope,
            CreatedAt = SecurityConfigFile.Now(),
        };
    }
}
