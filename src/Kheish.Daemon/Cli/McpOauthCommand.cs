using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Kheish.Core.Accounts;
using Kheish.Core.Errors;
using Kheish.Core.Mcp;
using Kheish.Core.Secrets;
using Kheish.Core.Text;
using Kheish.Daemon.Cli.Secrets;
using Kheish.Daemon.Http;

namespace Kheish.Daemon.Cli;

/// <summary>
/// <c>kheish-daemon mcp oauth login|status|refresh|logout &lt;id&gt;</c>: MCP OAuth accounts in
/// slots <c>mcp.oauth.&lt;id&gt;</c>. <c>login</c> runs here (it owns the browser step and the
/// loopback callback) and stores the account through the daemon's account API, or the store
/// with --offline; the other verbs show, refresh and revoke it. Metadata only, never a token.
/// </summary>
internal static class McpOauthCommand
{
    private static readonly Argument<string> Id = new("id")
    {
        Description = "The MCP server's name (its config table name); the account lives in slot mcp.oauth.<id> unless --slot.",
    };

    private static readonly Option<string?> Slot = new("--slot")
    {
        Description = "The account slot (default mcp.oauth.<id>; must start with mcp.oauth.).",
    };

    private static readonly Option<string?> Url = new("--url")
    {
        Description = "The MCP server's streamable-HTTP URL (https; http only for loopback with --allow-http-for-loopback).",
        Required = true,
    };

    private static readonly Option<string?> ClientId = new("--client-id")
    {
        Description = "A client pre-registered at the authorization server (redirect URI http://127.0.0.1:<port>/callback). Without it the client is registered dynamically (RFC 7591).",
    };

    private static readonly Option<string?> ClientMetadataUrl = new("--client-metadata-url")
    {
        Description = "An https URL serving this client's client ID metadata document; used as the client_id when the authorization server advertises client_id_metadata_document_supported, else the client is registered dynamically.",
    };

    private static readonly Option<string?> ClientSecretFile = new("--client-secret-file")
    {
        Description = "File holding the pre-registered client's secret (only with --client-id).",
    };

    private static readonly Option<string?> ClientSecretEnv = new("--client-secret-env")
    {
        Description = "Environment variable holding the pre-registered client's secret (only with --client-id).",
    };

    private static readonly Option<string?> Scopes = new("--scopes")
    {
        Description = "Comma-separated scopes to request (default: the server's 401 challenge scope, else its scopes_supported). More than requested is refused.",
    };

    private static readonly Option<int> CallbackPort = new("--callback-port")
    {
        Description = "Loopback port of the redirect listener http://127.0.0.1:<port>/callback (default: a free port).",
        DefaultValueFactory = _ => 0,
    };

    private static readonly Option<bool> NoOpen = new("--no-open")
    {
        Description = "Do not start a browser; only print the authorization URL (to stderr).",
    };

    private static readonly Option<int> TimeoutSec = new("--timeout-sec")
    {
        Description = "How long to wait for the browser's redirect (1-3600 s, default 600).",
        DefaultValueFactory = _ => 600,
    };

    private static readonly Option<bool> AllowHttpForLoopback = new("--allow-http-for-loopback")
    {
        Description = "Accept plain http for loopback hosts (127.0.0.1, ::1, localhost): local test servers only.",
    };

    private static readonly Option<string?> Issuer = new("--issuer")
    {
        Description = "An authorization server's issuer, exactly as its metadata names it.",
    };

    private static readonly Option<string?> RedirectUri = new("--redirect-uri")
    {
        Description = "The loopback redirect URI the client was registered for (http://127.0.0.1:<port>/callback).",
    };

    public static Command Create()
    {
        var oauth = new Command("oauth", "MCP OAuth accounts (MCP authorization spec: RFC 9728 discovery, PKCE S256, RFC 8707 resource): login, status, refresh, logout.");
        oauth.Subcommands.Add(CreateLogin());
        oauth.Subcommands.Add(CreateStatus());
        oauth.Subcommands.Add(CreateOnline("refresh", "Refresh the account's access token now (through the daemon, with the RFC 8707 resource). On failure the old token is kept until it expires and the failure is recorded."));
        oauth.Subcommands.Add(CreateOnline("logout", "Delete the account and revoke every lease drawing on it (through the daemon). Servers using it stop until the next login. The registered client is kept for the next login (see `mcp oauth clients`)."));
        oauth.Subcommands.Add(CreateClients());
        return oauth;
    }

    private static Command CreateLogin()
    {
        var login = new Command("login",
            "Log in to an OAuth-protected MCP server: discovers its authorization server, registers a client unless --client-id, opens the " +
            "authorization URL (printed to stderr) and waits for exactly one redirect to http://127.0.0.1:<port>/callback; then stores the " +
            "account through the daemon (POST /v1/runtime/auth/accounts/mcp-oauth, admin) or, with --offline, in the store.");
        login.Arguments.Add(Id);
        foreach (Option option in (Option[])[Url, Slot, ClientId, ClientMetadataUrl, ClientSecretFile, ClientSecretEnv, Scopes, CallbackPort, NoOpen, TimeoutSec, AllowHttpForLoopback])
        {
            login.Options.Add(option);
        }

        CommonOptions.AddClientOptions(login);
        login.SetAction(async (parseResult, ct) =>
        {
            bool json = CommonOptions.IsJson(parseResult);
            Result<SlotStatus> outcome = await LoginAsync(parseResult, ct).ConfigureAwait(false);
            if (!outcome.TryGetValue(out SlotStatus? status, out KheishError? error))
            {
                return CliOutput.Fail(error, json);
            }

            if (json)
            {
                CliOutput.WriteJson(status, AccountsJsonContext.Default.SlotStatus);
            }
            else
            {
                CliOutput.Out.WriteLine($"logged in: {status.SlotId} ({status.Summary}), scopes {status.Details?.GetValueOrDefault("scopes") ?? "-"}, client {status.Details?.GetValueOrDefault("client_source") ?? "-"}");
                string resource = status.Details?.GetValueOrDefault("resource") ?? string.Empty;
                string extra = McpOauthLogin.SameResource(resource, new Uri(parseResult.GetValue(Url)!)) ? string.Empty : $" and oauth_resource = \"{resource}\"";
                CliOutput.Out.WriteLine($"use it with: oauth_slot_ref = \"{status.SlotId}\"{extra} in [mcp_servers.{status.Details?.GetValueOrDefault("server_name")}]");
            }

            return ExitCodes.Ok;
        });
        return login;
    }

    private static async Task<Result<SlotStatus>> LoginAsync(ParseResult parseResult, CancellationToken ct)
    {
        // Everything the operator gave is checked before any request goes out.
        if (!Target(parseResult).TryGetValue(out (string Server, SlotId Slot) target, out KheishError? error))
        {
            return error;
        }

        bool allowHttp = parseResult.GetValue(AllowHttpForLoopback);
        string urlText = parseResult.GetValue(Url) ?? string.Empty;
        if (McpOauthUrls.Check(urlText, "--url", allowHttp) is { } urlProblem)
        {
            return KheishError.BadRequest("mcp_oauth_url_invalid", urlProblem);
        }

        int timeout = parseResult.GetValue(TimeoutSec);
        if (timeout is < 1 or > 3600)
        {
            return KheishError.BadRequest("invalid_option", "--timeout-sec must be between 1 and 3600");
        }

        int port = parseResult.GetValue(CallbackPort);
        if (port is < 0 or > 65535)
        {
            return KheishError.BadRequest("invalid_option", "--callback-port must be between 1 and 65535 (0: a free port)");
        }

        IReadOnlyList<string>? scopes = parseResult.GetValue(Scopes) is { } list
            ? list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            : null;
        if (McpOauthUrls.CheckScopes(scopes, "--scopes") is { } scopeProblem)
        {
            return KheishError.BadRequest("mcp_oauth_scopes_invalid", scopeProblem);
        }

        if (!ClientSecret(parseResult).TryGetValue(out string? secret, out error))
        {
            return error;
        }

        string? clientId = parseResult.GetValue(ClientId);
        if (clientId is not null && (clientId.Length is 0 or > 512 || ControlCharacters.In(clientId)))
        {
            return KheishError.BadRequest("invalid_option", "--client-id must be a non-empty printable string");
        }

        string? metadataUrl = parseResult.GetValue(ClientMetadataUrl);
        if (metadataUrl is not null && clientId is not null)
        {
            return KheishError.BadRequest("invalid_option", "give one of --client-id (a pre-registered client) or --client-metadata-url, not both");
        }

        if (metadataUrl is not null && McpOauthUrls.CheckClientMetadataUrl(metadataUrl, "--client-metadata-url") is { } metadataProblem)
        {
            return KheishError.BadRequest("mcp_oauth_client_metadata_url_invalid", metadataProblem);
        }

        // Where the account goes is checked first too: a login that cannot be stored is wasted.
        Func<SlotRecord, CancellationToken, Task<Result<SlotStatus>>> store;
        if (parseResult.GetValue(CommonOptions.Offline))
        {
            var backend = new OfflineSecretsBackend(CommonOptions.GetStateRoot(parseResult), Environment.GetEnvironmentVariable);
            store = backend.SetAsync;
        }
        else
        {
            if (!CommonOptions.CreateClient(parseResult).TryGetValue(out Client.DaemonClient? probe, out error))
            {
                return error;
            }

            probe.Dispose();
            store = (record, token) => PostAsync(parseResult, record, token);
        }

        var request = new McpOauthLoginRequest(target.Server, new Uri(urlText), clientId, secret, scopes, allowHttp,
            metadataUrl is null ? null : new Uri(metadataUrl));
        using var http = new HttpClient(new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseCookies = false,
            ConnectTimeout = TimeSpan.FromSeconds(15),
        })
        {
            Timeout = TimeSpan.FromSeconds(30),
        };
        var flow = new McpOauthLogin(http);
        if (!(await flow.DiscoverAsync(request, ct).ConfigureAwait(false)).TryGetValue(out McpOauthDiscovery? discovery, out error))
        {
            return error;
        }

        IReadOnlyList<string> requested = scopes ?? discovery.DefaultScopes;
        if (McpOauthUrls.CheckScopes(requested, "the server's default scopes") is { } defaultProblem)
        {
            return KheishError.BadRequest("mcp_oauth_scopes_invalid", defaultProblem);
        }

        // A dynamically registered client is reused per issuer and redirect URI: the callback
        // listens on the port a stored client was registered for when it is free (a registered
        // redirect URI is exact; RFC 8252 §7.3's any-port rule is not relied upon).
        bool dynamic = clientId is null && McpOauthLogin.UsesMetadataDocument(request, discovery) is null;
        McpOauthClientRegistry registry = McpOauthClientRegistry.For(parseResult);
        (McpOauthStoredClient? stored, LoopbackCallback? callback) = dynamic ? await StoredClientAsync(registry, discovery.Issuer, port, ct).ConfigureAwait(false) : (null, null);
        if (callback is null && !LoopbackCallback.Start(port).TryGetValue(out callback, out error))
        {
            return error;
        }

        using (callback)
        {
            if (stored is not null && await flow.ClientRejectedAsync(discovery, stored.ClientId, callback.RedirectUri, ct).ConfigureAwait(false))
            {
                // Re-registered once, here; a client registered just now is never probed, so this cannot loop.
                await ForgetAsync(registry, stored, ct).ConfigureAwait(false);
                CliOutput.Warn($"the authorization server {discovery.Issuer} no longer accepts the stored client {stored.ClientId} (invalid_client): dropped it, registering a new one");
                stored = null;
            }

            McpOauthClient client;
            if (stored is not null)
            {
                client = new McpOauthClient(stored.ClientId, null, McpOauthAccount.AuthNone, "reused");
            }
            else if (!(await flow.ClientAsync(request, discovery, callback.RedirectUri, ct).ConfigureAwait(false)).TryGetValue(out client!, out error))
            {
                return error;
            }
            else if (client.Storable)
            {
                if (!(await registry.RememberAsync(new McpOauthStoredClient(discovery.Issuer, callback.RedirectUri.AbsoluteUri, client.ClientId), ct).ConfigureAwait(false)).TryGetValue(out _, out KheishError? kept))
                {
                    CliOutput.Warn($"the registered client is not stored for reuse ({kept.Code}): the next login registers again");
                }
            }
            else if (client.Source == "registered")
            {
                CliOutput.Warn("the authorization server registered a confidential client (it issued a client secret): it is kept with this account only, never stored for reuse");
            }

            var account = new McpOauthAccount(target.Server, discovery.Resource, discovery.Issuer, discovery.AuthorizationEndpoint, discovery.TokenEndpoint,
                client.ClientId, client.ClientSecret, requested, client.Auth, client.Source);
            McpOauthAuthorization pending = McpOauthLogin.Authorize(discovery, account, callback.RedirectUri, requested);
            CliOutput.Error.WriteLine("open this URL in a browser to log in (waiting for the redirect to " + callback.RedirectUri + "):");
            CliOutput.Error.WriteLine(pending.AuthorizeUrl.AbsoluteUri);
            CliOutput.Error.Flush();
            if (!parseResult.GetValue(NoOpen))
            {
                TryOpenBrowser(pending.AuthorizeUrl);
            }

            if (!(await callback.WaitAsync(TimeSpan.FromSeconds(timeout), pending, ct).ConfigureAwait(false)).TryGetValue(out string? code, out error)
                || !(await flow.ExchangeAsync(pending, code, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), ct).ConfigureAwait(false)).TryGetValue(out AccountState? state, out error))
            {
                // A stored client refused after the browser step: dropped, and the operator reruns
                // (the browser step cannot be repeated silently).
                if (error.Code == McpOauthLogin.ClientRejected && client.Source == "reused")
                {
                    await ForgetAsync(registry, new McpOauthStoredClient(discovery.Issuer, callback.RedirectUri.AbsoluteUri, client.ClientId), ct).ConfigureAwait(false);
                    return KheishError.Unavailable(McpOauthLogin.ClientRejected,
                        $"{error.Message}; the stored client {client.ClientId} was dropped: run `kheish-daemon mcp oauth login {target.Server} --url {urlText}` again to register a new one");
                }

                return error;
            }

            if (state.RefreshToken.Length == 0)
            {
                CliOutput.Warn("the authorization server issued no refresh token: the account works until its access token expires, then needs `mcp oauth login` again");
            }

            return await store(state.ToRecord(target.Slot), ct).ConfigureAwait(false);
        }
    }

    /// <summary>The newest stored client of the issuer whose callback port can be listened on now (the given --callback-port only), with that listener.</summary>
    private static async Task<(McpOauthStoredClient?, LoopbackCallback?)> StoredClientAsync(McpOauthClientRegistry registry, string issuer, int port, CancellationToken ct)
    {
        if (!(await registry.FindAsync(issuer, ct).ConfigureAwait(false)).TryGetValue(out IReadOnlyList<McpOauthStoredClient>? stored, out KheishError? error))
        {
            CliOutput.Warn($"the stored OAuth clients cannot be read ({error.Code}): registering a new client");
            return (null, null);
        }

        foreach (McpOauthStoredClient candidate in stored)
        {
            if ((port == 0 || candidate.Port == port) && LoopbackCallback.Start(candidate.Port).TryGetValue(out LoopbackCallback? callback, out _))
            {
                return (candidate, callback);
            }
        }

        return (null, null);
    }

    private static async Task ForgetAsync(McpOauthClientRegistry registry, McpOauthStoredClient client, CancellationToken ct)
    {
        if (!(await registry.ForgetAsync(client.Issuer, client.RedirectUri, ct).ConfigureAwait(false)).TryGetValue(out _, out KheishError? error))
        {
            CliOutput.Warn($"the stored client could not be dropped ({error.Code})");
        }
    }

    private static Command CreateClients()
    {
        var clients = new Command("clients", "The public clients `login` registered and keeps for reuse, per issuer and redirect URI (ids only: they hold no secret). --offline reads the store.");
        clients.Options.Add(Issuer);
        CommonOptions.AddClientOptions(clients);
        clients.SetAction(async (parseResult, ct) =>
        {
            bool json = CommonOptions.IsJson(parseResult);
            if (!(await McpOauthClientRegistry.For(parseResult).FindAsync(parseResult.GetValue(Issuer), ct).ConfigureAwait(false))
                .TryGetValue(out IReadOnlyList<McpOauthStoredClient>? found, out KheishError? error))
            {
                return CliOutput.Fail(error, json);
            }

            if (json)
            {
                CliOutput.WriteJson(new McpOauthClientList(found), AccountsJsonContext.Default.McpOauthClientList);
            }
            else
            {
                foreach (McpOauthStoredClient c in found)
                {
                    CliOutput.Out.WriteLine($"{c.Issuer}  {c.RedirectUri}  {c.ClientId}");
                }
            }

            return ExitCodes.Ok;
        });

        var forget = new Command("forget", "Drop a stored client: the next login against its issuer registers a new one. (Its registration at the server is left as it is.)");
        forget.Options.Add(Issuer);
        forget.Options.Add(RedirectUri);
        CommonOptions.AddClientOptions(forget);
        forget.SetAction(async (parseResult, ct) =>
        {
            bool json = CommonOptions.IsJson(parseResult);
            if (parseResult.GetValue(Issuer) is not { } issuer || parseResult.GetValue(RedirectUri) is not { } redirect)
            {
                return CliOutput.Fail(KheishError.BadRequest("invalid_option", "give --issuer and --redirect-uri (see `mcp oauth clients`)"), json);
            }

            if (!(await McpOauthClientRegistry.For(parseResult).ForgetAsync(issuer, redirect, ct).ConfigureAwait(false)).TryGetValue(out bool deleted, out KheishError? error))
            {
                return CliOutput.Fail(error, json);
            }

            if (!deleted)
            {
                return CliOutput.Fail(KheishError.NotFound("mcp_oauth_client_not_found", "no stored client for that issuer and redirect URI"), json);
            }

            if (json)
            {
                CliOutput.WriteJson(new McpOauthClientForgotten(true), AccountsJsonContext.Default.McpOauthClientForgotten);
            }
            else
            {
                CliOutput.Out.WriteLine("forgot the stored client; the next login against that issuer registers a new one");
            }

            return ExitCodes.Ok;
        });
        clients.Subcommands.Add(forget);
        return clients;
    }

    private static async Task<Result<SlotStatus>> PostAsync(ParseResult parseResult, SlotRecord record, CancellationToken ct)
    {
        if (!CommonOptions.CreateClient(parseResult).TryGetValue(out Client.DaemonClient? client, out KheishError? error))
        {
            return error;
        }

        using (client)
        {
            var write = new McpOauthAccountWrite(record.SlotId.Value, record.State);
            using HttpContent body = Client.DaemonClient.Json(write, AccountsJsonContext.Default.McpOauthAccountWrite);
            return await client.SendAsync(HttpMethod.Post, "/v1/runtime/auth/accounts/mcp-oauth", body, AccountsJsonContext.Default.SlotStatus, ct).ConfigureAwait(false);
        }
    }

    private static Command CreateStatus()
    {
        var status = new Command("status", "Show the account's redacted metadata: resource, issuer, endpoints, client id, expiry, scopes, last refresh. --offline reads the store.");
        status.Arguments.Add(Id);
        status.Options.Add(Slot);
        CommonOptions.AddClientOptions(status);
        status.SetAction(async (parseResult, ct) =>
        {
            bool json = CommonOptions.IsJson(parseResult);
            if (!Target(parseResult).TryGetValue(out (string Server, SlotId Slot) target, out KheishError? error))
            {
                return CliOutput.Fail(error, json);
            }

            Result<SlotStatus> found;
            if (parseResult.GetValue(CommonOptions.Offline))
            {
                Result<IReadOnlyList<SlotStatus>> all = await AccountsCommand.ListAsync(parseResult, ct).ConfigureAwait(false);
                found = !all.IsOk ? all.Error
                    : all.Value.FirstOrDefault(s => s.SlotId == target.Slot.Value) is { } hit ? hit
                    : NotFound(target);
            }
            else if (CommonOptions.CreateClient(parseResult).TryGetValue(out Client.DaemonClient? client, out error))
            {
                using (client)
                {
                    found = await client.GetAsync(AccountsCommand.Path(target.Slot), AccountsJsonContext.Default.SlotStatus, ct).ConfigureAwait(false);
                }
            }
            else
            {
                found = error;
            }

            if (found.TryGetValue(out SlotStatus? s, out _) && s.Provider != SlotProvider.McpOauth)
            {
                found = KheishError.BadRequest("mcp_oauth_not_an_account", $"slot {s.SlotId} is a {s.Provider.Name()} account, not an MCP OAuth account");
            }

            return AccountsCommand.Print(found, json);
        });
        return status;
    }

    private static Command CreateOnline(string verb, string description)
    {
        var command = new Command(verb, description);
        command.Arguments.Add(Id);
        command.Options.Add(Slot);
        CommonOptions.AddClientOptions(command);
        command.SetAction(async (parseResult, ct) =>
        {
            bool json = CommonOptions.IsJson(parseResult);
            if (parseResult.GetValue(CommonOptions.Offline))
            {
                return CliOutput.Fail(KheishError.BadRequest("accounts_need_daemon",
                    $"`mcp oauth {verb}` goes through the running daemon (it alone holds and rotates the refresh token); drop --offline"), json);
            }

            if (!Target(parseResult).TryGetValue(out (string Server, SlotId Slot) target, out KheishError? error)
                || !CommonOptions.CreateClient(parseResult).TryGetValue(out Client.DaemonClient? client, out error))
            {
                return CliOutput.Fail(error, json);
            }

            using (client)
            {
                // Refuse to touch a slot that is not an MCP OAuth account.
                Result<SlotStatus> current = await client.GetAsync(AccountsCommand.Path(target.Slot), AccountsJsonContext.Default.SlotStatus, ct).ConfigureAwait(false);
                if (!current.TryGetValue(out SlotStatus? s, out error))
                {
                    return CliOutput.Fail(error, json);
                }

                if (s.Provider != SlotProvider.McpOauth)
                {
                    return CliOutput.Fail(KheishError.BadRequest("mcp_oauth_not_an_account", $"slot {s.SlotId} is a {s.Provider.Name()} account, not an MCP OAuth account"), json);
                }

                if (verb == "refresh")
                {
                    return AccountsCommand.Print(await client.SendAsync(HttpMethod.Post, AccountsCommand.Path(target.Slot) + "/refresh", null, AccountsJsonContext.Default.SlotStatus, ct).ConfigureAwait(false), json);
                }

                return await AccountsCommand.RevokeAsync(client, target.Slot, json,
                    r => $"logged out {r.SlotId}: account deleted, {r.RevokedLeases.Count.ToString(CultureInfo.InvariantCulture)} lease(s) revoked", ct).ConfigureAwait(false);
            }
        });
        return command;
    }

    private static Result<(string Server, SlotId Slot)> Target(ParseResult parseResult)
    {
        string id = parseResult.GetValue(Id) ?? string.Empty;
        if (!McpServerValidator.IsValidName(id))
        {
            return KheishError.BadRequest("mcp_server_name_invalid",
                $"`{McpServerValidator.Printable(id)}` is not an MCP server name (1-{McpServerValidator.MaxNameLength} letters, digits, '-' or '_')");
        }

        string slot = parseResult.GetValue(Slot) ?? McpOauthAccount.SlotPrefix + id;
        if (!slot.StartsWith(McpOauthAccount.SlotPrefix, StringComparison.Ordinal) || slot.Length == McpOauthAccount.SlotPrefix.Length)
        {
            return KheishError.BadRequest("mcp_oauth_slot_invalid", $"--slot must start with {McpOauthAccount.SlotPrefix} (oauth_slot_ref accepts only those)");
        }

        return SlotId.Parse(slot).TryGetValue(out SlotId slotId, out KheishError? error) ? (id, slotId) : error;
    }

    private static Result<string?> ClientSecret(ParseResult parseResult)
    {
        string? file = parseResult.GetValue(ClientSecretFile);
        string? env = parseResult.GetValue(ClientSecretEnv);
        if (file is null && env is null)
        {
            return Result<string?>.Ok(null);
        }

        if (file is not null && env is not null)
        {
            return KheishError.BadRequest("invalid_option", "give the client secret through one of --client-secret-file or --client-secret-env, not both");
        }

        if (parseResult.GetValue(ClientId) is null)
        {
            return KheishError.BadRequest("invalid_option", "a client secret belongs to a pre-registered client: pass --client-id too");
        }

        string? value;
        if (file is not null)
        {
            try
            {
                value = File.ReadAllText(file).Trim();
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                return KheishError.BadRequest("client_secret_unreadable", $"--client-secret-file {file} cannot be read ({ex.GetType().Name})");
            }
        }
        else
        {
            value = Environment.GetEnvironmentVariable(env!)?.Trim();
        }

        return value is { Length: > 0 }
            ? value
            : KheishError.BadRequest("client_secret_empty", file is not null ? $"--client-secret-file {file} is empty" : $"environment variable {env} is not set or empty");
    }

    private static KheishError NotFound((string Server, SlotId Slot) target) =>
        KheishError.NotFound("account_not_found", $"no MCP OAuth account in {target.Slot}; log in with 'kheish-daemon mcp oauth login {target.Server} --url <server url>'");

    private static void TryOpenBrowser(Uri url)
    {
        try
        {
            var info = new ProcessStartInfo("xdg-open") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            info.ArgumentList.Add(url.AbsoluteUri);
            using Process? process = Process.Start(info);
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            CliOutput.Warn("no browser could be started (xdg-open); open the URL above by hand");
        }
    }
}
