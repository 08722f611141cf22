using System.Buffers;
using System.Security.Cryptography;
using System.Text.Json;
using Kheish.Core.Crypto;
using Kheish.Core.Errors;
using Kheish.Core.Routes;
using Kheish.Core.Storage;

namespace Kheish.Core.Accounts;

/// <summary>
/// A public OAuth client that <c>mcp oauth login</c> registered dynamically (RFC 7591,
/// <c>token_endpoint_auth_method</c> <c>none</c>): its id, the authorization server (issuer) that
/// issued it and the loopback redirect URI it was registered for. No secret: a confidential
/// client is never stored here, since the CLI would have to be handed its secret back.
/// </summary>
internal sealed record McpOauthStoredClient(string Issuer, string RedirectUri, string ClientId, long RegisteredAtMs = 0)
{
    /// <summary>The loopback port of <see cref="RedirectUri"/>.</summary>
    public int Port => new Uri(RedirectUri).Port;
}

/// <summary>
/// <c>&lt;state_root&gt;/auth/mcp-oauth-clients.json</c>: the dynamically registered public clients,
/// keyed by issuer and redirect URI, so that the next login against the same authorization
/// server reuses its client instead of registering a new one. A file of its own rather than
/// slots: nothing can clash with a slot name (catalog <c>mcp.&lt;entry&gt;.&lt;ENV&gt;</c>, accounts
/// <c>mcp.oauth.&lt;id&gt;</c>, anything <c>secrets set</c> writes), no client is listed, leased or
/// refreshed as a secret slot, and <c>secrets rekey</c> re-encrypts it like every envelope file.
/// Sealed under the master key (the purpose is its relative path). The file is small and read
/// rarely (once per login), so every call reads it from disk; writes are serialised here and by
/// <c>daemon.lock</c> across processes (the daemon holds it; offline writers take it).
/// </summary>
internal sealed class McpOauthClientStore(StateRoot root, MasterKey? key, TimeProvider? time = null)
{
    public const string Purpose = "auth/mcp-oauth-clients.json";

    /// <summary>More than this many clients is a store that grows without bound: the oldest go.</summary>
    public const int MaxClients = 256;

    private readonly Lock _writeGate = new();
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public string FilePath => root.McpOauthClientsFile;

    /// <summary>The key a client is stored under: the issuer exactly (RFC 8414 §3.3 compares issuers as strings) and the redirect URI.</summary>
    public static string KeyOf(string issuer, string redirectUri) =>
        issuer + " " + (Uri.TryCreate(redirectUri, UriKind.Absolute, out Uri? u) ? u.AbsoluteUri : redirectUri);

    /// <summary>Why a client cannot be stored, or null. Messages name fields, never values.</summary>
    public static string? Check(McpOauthStoredClient client)
    {
        ArgumentNullException.ThrowIfNull(client);
        if (McpOauthUrls.Check(client.Issuer, "issuer", allowHttpForLoopback: true, allowQuery: false) is { } issuerProblem)
        {
            return issuerProblem;
        }

        if (!Uri.TryCreate(client.RedirectUri, UriKind.Absolute, out Uri? redirect) || redirect.Scheme != Uri.UriSchemeHttp
            || redirect.Host != "127.0.0.1" || redirect.IsDefaultPort || redirect.AbsolutePath != "/callback" || redirect.Query.Length > 0 || redirect.Fragment.Length > 0)
        {
            return "redirect_uri must be the login's loopback callback http://127.0.0.1:<port>/callback";
        }

        return client.ClientId is { Length: > 0 and <= 512 } id && RouteValues.IsHeaderSafe(id) ? null : "client_id must be a printable string of 1-512 characters";
    }

    /// <summary>The stored clients of <paramref name="issuer"/>, newest first.</summary>
    public Result<IReadOnlyList<McpOauthStoredClient>> Find(string issuer)
    {
        if (!Read().TryGetValue(out List<McpOauthStoredClient>? all, out KheishError? error))
        {
            return error;
        }

        return Result<IReadOnlyList<McpOauthStoredClient>>.Ok(
            [.. all.Where(c => string.Equals(c.Issuer, issuer, StringComparison.Ordinal)).OrderByDescending(c => c.RegisteredAtMs)]);
    }

    /// <summary>Every stored client, newest first.</summary>
    public Result<IReadOnlyList<McpOauthStoredClient>> List() =>
        Read().TryGetValue(out List<McpOauthStoredClient>? all, out KheishError? error)
            ? Result<IReadOnlyList<McpOauthStoredClient>>.Ok([.. all.OrderByDescending(c => c.RegisteredAtMs)])
            : error;

    /// <summary>Stores (or replaces) the client for its issuer and redirect URI, stamped now.</summary>
    public Result<McpOauthStoredClient> Remember(McpOauthStoredClient client)
    {
        ArgumentNullException.ThrowIfNull(client);
        if (Check(client) is { } problem)
        {
            return KheishError.BadRequest("mcp_oauth_client_invalid", problem);
        }

        McpOauthStoredClient stamped = client with
        {
            RedirectUri = new Uri(client.RedirectUri).AbsoluteUri,
            RegisteredAtMs = _time.GetUtcNow().ToUnixTimeMilliseconds(),
        };
        lock (_writeGate)
        {
            if (!Read().TryGetValue(out List<McpOauthStoredClient>? all, out KheishError? error))
            {
                return error;
            }

            string k = KeyOf(stamped.Issuer, stamped.RedirectUri);
            all.RemoveAll(c => KeyOf(c.Issuer, c.RedirectUri) == k);
            all.Add(stamped);
            if (all.Count > MaxClients)
            {
                all = [.. all.OrderByDescending(c => c.RegisteredAtMs).Take(MaxClients)];
            }

            return Write(all) is { } failed ? failed : stamped;
        }
    }

    /// <summary>Drops the client of an issuer and redirect URI; false (and no write) when there is none.</summary>
    public Result<bool> Forget(string issuer, string redirectUri)
    {
        lock (_writeGate)
        {
            if (!Read().TryGetValue(out List<McpOauthStoredClient>? all, out KheishError? error))
            {
                return error;
            }

            string k = KeyOf(issuer, redirectUri);
            if (all.RemoveAll(c => KeyOf(c.Issuer, c.RedirectUri) == k) == 0)
            {
                return false;
            }

            return Write(all) is { } failed ? failed : true;
        }
    }

    private Result<List<McpOauthStoredClient>> Read()
    {
        string path = FilePath;
        byte[]? file;
        try
        {
            file = AtomicFile.ReadOrNull(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return KheishError.Misconfigured("state_file_unreadable", $"cannot read {path}: {ex.GetType().Name}");
        }

        if (file is null)
        {
            return new List<McpOauthStoredClient>();
        }

        if (key is null)
        {
            return KheishError.Misconfigured("master_key_required",
                $"{path} is encrypted but no master key is configured; set {MasterKey.ValueVariable} or {MasterKey.FileVariable} to the key that wrote it");
        }

        if (!EnvelopeCodec.Open(file, key, Purpose, path).TryGetValue(out byte[]? plaintext, out KheishError? openError))
        {
            return openError;
        }

        try
        {
            using var document = JsonDocument.Parse(plaintext);
            if (!document.RootElement.TryGetProperty("clients", out JsonElement clients) || clients.ValueKind != JsonValueKind.Array)
            {
                return EnvelopeCodec.Corrupt(path, "it has no \"clients\" array");
            }

            var all = new List<McpOauthStoredClient>();
            foreach (JsonElement c in clients.EnumerateArray())
            {
                var client = new McpOauthStoredClient(
                    AccountState.String(c, "issuer") ?? string.Empty,
                    AccountState.String(c, "redirect_uri") ?? string.Empty,
                    AccountState.String(c, "client_id") ?? string.Empty,
                    c.TryGetProperty("registered_at_ms", out JsonElement at) && at.TryGetInt64(out long ms) ? ms : 0);
                if (Check(client) is not null)
                {
                    return EnvelopeCodec.Corrupt(path, "a stored client is not valid");
                }

                all.Add(client);
            }

            return all;
        }
        catch (JsonException)
        {
            return EnvelopeCodec.Corrupt(path, "its clients are not valid JSON");
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plaintext);
        }
    }

    private KheishError? Write(List<McpOauthStoredClient> all)
    {
        if (key is null)
        {
            return KheishError.Misconfigured("master_key_required",
                $"cannot write {FilePath}: no master key is configured. Set {MasterKey.ValueVariable} or {MasterKey.FileVariable}");
        }

        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteNumber("version", 1);
            w.WriteStartArray("clients");
            foreach (McpOauthStoredClient c in all.OrderBy(c => KeyOf(c.Issuer, c.RedirectUri), StringComparer.Ordinal))
            {
                w.WriteStartObject();
                w.WriteString("issuer", c.Issuer);
                w.WriteString("redirect_uri", c.RedirectUri);
                w.WriteString("client_id", c.ClientId);
                w.WriteNumber("registered_at_ms", c.RegisteredAtMs);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        try
        {
            root.EnsureExists();
            AtomicFile.Write(FilePath, EnvelopeCodec.Seal(buffer.WrittenSpan, key, Purpose));
            return null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return KheishError.Unavailable("state_write_failed", $"cannot write {FilePath}: {ex.Message}");
        }
    }
}
