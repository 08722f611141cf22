using System.Net;
using Kheish.Core.Access;
using Kheish.Core.Errors;

namespace Kheish.Daemon.Http.ControlPlane;

internal enum HttpAuthMode
{
    Auto,
    Bearer,
    None,
}

/// <summary>What was asked for on the command line / environment, before validation.</summary>
internal sealed record ControlPlaneAuthInput(
    string? Mode,
    string? AdminToken,
    string? AdminTokenFile,
    string? ReadonlyToken,
    string? ReadonlyTokenFile);

/// <summary>
/// The validated control-plane auth configuration (Kheish reference §4): <c>none</c> only
/// explicit, on loopback and without a configured token; token-less <c>auto</c> only on
/// loopback, where it mints an admin token into the state root; <c>bearer</c> needs an admin
/// token; a read-only token alone, or equal admin/read-only tokens, are refused.
/// </summary>
internal sealed record ControlPlaneAuthOptions(
    HttpAuthMode RequestedMode,
    bool Enabled,
    BearerTokenSource? Admin,
    BearerTokenSource? Readonly,
    bool MintAdminToken = false)
{
    public string Describe() => Enabled
        ? (MintAdminToken ? $"bearer (admin token minted at {Admin?.FilePath})"
            : Readonly is null ? "bearer (admin token)" : "bearer (admin + read-only tokens)")
        : "none (loopback only, explicit --http-auth-mode none)";

    /// <summary>
    /// Token-less <c>auto</c> on loopback: mint (or reuse) the state root's admin token file and
    /// turn bearer auth on with it. Called once the state-root lock is held.
    /// </summary>
    public Result<ControlPlaneAuthOptions> WithMintedToken(Kheish.Core.Storage.StateRoot root)
    {
        if (!MintAdminToken)
        {
            return this;
        }

        if (!MintedAdminToken.EnsureFile(root).TryGetValue(out string? path, out KheishError? error))
        {
            return error;
        }

        if (!BearerTokenSource.Create("admin", "--http-admin-token", null, path, "KHEISH_DAEMON_ADMIN_TOKEN", _ => null)
                .TryGetValue(out BearerTokenSource? admin, out error))
        {
            return error;
        }

        return this with { Enabled = true, Admin = admin };
    }

    public static Result<ControlPlaneAuthOptions> Resolve(ControlPlaneAuthInput input, IPEndPoint bind, Func<string, string?> getEnv)
    {
        string modeText = (input.Mode ?? getEnv("KHEISH_HTTP_AUTH_MODE") ?? "auto").Trim().ToLowerInvariant();
        HttpAuthMode mode;
        switch (modeText)
        {
            case "auto": mode = HttpAuthMode.Auto; break;
            case "bearer": mode = HttpAuthMode.Bearer; break;
            case "none": mode = HttpAuthMode.None; break;
            default:
                return KheishError.BadRequest("invalid_auth_mode", $"unknown {(input.Mode is null ? "KHEISH_HTTP_AUTH_MODE" : "--http-auth-mode")} '{modeText}'; use auto, bearer or none");
        }

        if (!BearerTokenSource.Create("admin", "--http-admin-token", input.AdminToken, input.AdminTokenFile, "KHEISH_DAEMON_ADMIN_TOKEN", getEnv)
                .TryGetValue(out BearerTokenSource? admin, out KheishError? error))
        {
            return error;
        }

        if (!BearerTokenSource.Create("read-only", "--http-readonly-token", input.ReadonlyToken, input.ReadonlyTokenFile, "KHEISH_DAEMON_READONLY_TOKEN", getEnv)
                .TryGetValue(out BearerTokenSource? ro, out error))
        {
            return error;
        }

        // 127.0.0.0/8 and ::1 (also IPv4-mapped); 0.0.0.0 and :: are not loopback.
        bool loopback = AgentAccessPolicy.IsLoopback(bind.Address);
        if (mode == HttpAuthMode.None)
        {
            if (!loopback)
            {
                return KheishError.BadRequest("auth_none_requires_loopback",
                    $"--http-auth-mode none is only allowed on a loopback bind (127.0.0.0/8 or ::1), not {bind}; set an admin token instead");
            }

            if (admin is not null || ro is not null)
            {
                // Silently dropping a configured token would open what the operator meant to close.
                string which = admin is not null ? "an admin token" : "a read-only token";
                return KheishError.BadRequest("auth_none_with_token",
                    $"--http-auth-mode none turns control-plane auth off, but {which} is configured (flag, file or KHEISH_DAEMON_*_TOKEN[_FILE]); remove the token or use --http-auth-mode auto");
            }

            return new ControlPlaneAuthOptions(mode, false, null, null);
        }

        if (admin is null && ro is not null)
        {
            return KheishError.BadRequest("readonly_without_admin",
                "a read-only token was given without an admin token; set --http-admin-token-file (or KHEISH_DAEMON_ADMIN_TOKEN_FILE) too");
        }

        if (admin is not null && ro is not null && admin.CurrentDigest() is { } a && ro.CurrentDigest() is { } r
            && System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(a, r))
        {
            return KheishError.BadRequest("tokens_identical", "the admin and read-only tokens are identical; they must differ");
        }

        if (mode == HttpAuthMode.Bearer && admin is null)
        {
            return KheishError.BadRequest("admin_token_required",
                "--http-auth-mode bearer needs an admin token: --http-admin-token-file FILE or KHEISH_DAEMON_ADMIN_TOKEN_FILE");
        }

        if (admin is null)
        {
            if (!loopback)
            {
                return KheishError.BadRequest("admin_token_required",
                    $"binding {bind} exposes the control plane beyond loopback; set an admin token (--http-admin-token-file FILE or KHEISH_DAEMON_ADMIN_TOKEN_FILE)");
            }

            return new ControlPlaneAuthOptions(mode, false, null, null, MintAdminToken: true);
        }

        if ((admin.WeakInline() ?? ro?.WeakInline()) is { } weak)
        {
            return weak;
        }

        return new ControlPlaneAuthOptions(mode, true, admin, ro);
    }
}
