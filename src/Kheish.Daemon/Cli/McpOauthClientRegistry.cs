using System.CommandLine;
using Kheish.Core.Accounts;
using Kheish.Core.Crypto;
using Kheish.Core.Errors;
using Kheish.Core.Storage;
using Kheish.Daemon.Cli.Secrets;
using Kheish.Daemon.Http;

namespace Kheish.Daemon.Cli;

/// <summary>
/// Where <c>mcp oauth login</c> finds and keeps the public clients it registered: through the
/// daemon (<c>/v1/runtime/auth/accounts/mcp-oauth/clients</c>, admin) or, with --offline, the
/// store file directly (writes under <c>daemon.lock</c>). Only public clients pass: the store
/// holds no secret, so nothing secret ever comes back to the CLI from it.
/// </summary>
internal sealed class McpOauthClientRegistry
{
    private const string PathBase = "/v1/runtime/auth/accounts/mcp-oauth/clients";

    private readonly Func<string?, CancellationToken, Task<Result<IReadOnlyList<McpOauthStoredClient>>>> _find;
    private readonly Func<McpOauthStoredClient, CancellationToken, Task<Result<McpOauthStoredClient>>> _remember;
    private readonly Func<string, string, CancellationToken, Task<Result<bool>>> _forget;

    private McpOauthClientRegistry(
        Func<string?, CancellationToken, Task<Result<IReadOnlyList<McpOauthStoredClient>>>> find,
        Func<McpOauthStoredClient, CancellationToken, Task<Result<McpOauthStoredClient>>> remember,
        Func<string, string, CancellationToken, Task<Result<bool>>> forget)
    {
        _find = find;
        _remember = remember;
        _forget = forget;
    }

    /// <summary>The stored clients of <paramref name="issuer"/> (every one when null), newest first.</summary>
    public Task<Result<IReadOnlyList<McpOauthStoredClient>>> FindAsync(string? issuer, CancellationToken ct) => _find(issuer, ct);

    public Task<Result<McpOauthStoredClient>> RememberAsync(McpOauthStoredClient client, CancellationToken ct) => _remember(client, ct);

    public Task<Result<bool>> ForgetAsync(string issuer, string redirectUri, CancellationToken ct) => _forget(issuer, redirectUri, ct);

    public static McpOauthClientRegistry For(ParseResult parseResult) =>
        parseResult.GetValue(CommonOptions.Offline) ? Offline(CommonOptions.GetStateRoot(parseResult), Environment.GetEnvironmentVariable) : Online(parseResult);

    public static McpOauthClientRegistry Offline(StateRoot root, Func<string, string?> getEnv)
    {
        Result<McpOauthClientStore> Open() =>
            MasterKey.FromEnvironment(getEnv).TryGetValue(out MasterKey? key, out KheishError? error) ? new McpOauthClientStore(root, key) : error;

        Result<T> Locked<T>(Func<McpOauthClientStore, Result<T>> write)
        {
            if (!Open().TryGetValue(out McpOauthClientStore? store, out KheishError? error)
                || !DaemonLock.TryAcquire(root, OfflineSecretsBackend.LockedHint).TryGetValue(out DaemonLock? held, out error))
            {
                return error;
            }

            using (held)
            {
                return write(store);
            }
        }

        return new McpOauthClientRegistry(
            (issuer, _) => Task.FromResult(Open().TryGetValue(out McpOauthClientStore? store, out KheishError? error) ? issuer is null ? store.List() : store.Find(issuer) : error),
            (client, _) => Task.FromResult(Locked(store => store.Remember(client))),
            (issuer, redirect, _) => Task.FromResult(Locked(store => store.Forget(issuer, redirect))));
    }

    public static McpOauthClientRegistry Online(ParseResult parseResult)
    {
        async Task<Result<T>> Send<T>(HttpMethod method, string path, HttpContent? body, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type, CancellationToken ct)
        {
            if (!CommonOptions.CreateClient(parseResult).TryGetValue(out Client.DaemonClient? client, out KheishError? error))
            {
                return error;
            }

            using (client)
            {
                return await client.SendAsync(method, path, body, type, ct).ConfigureAwait(false);
            }
        }

        static string Q(string value) => Uri.EscapeDataString(value);

        return new McpOauthClientRegistry(
            async (issuer, ct) => (await Send(HttpMethod.Get, issuer is null ? PathBase : $"{PathBase}?issuer={Q(issuer)}", null, AccountsJsonContext.Default.McpOauthClientList, ct).ConfigureAwait(false))
                .TryGetValue(out McpOauthClientList? list, out KheishError? error) ? Result<IReadOnlyList<McpOauthStoredClient>>.Ok(list.Clients) : error,
            async (client, ct) =>
            {
                using HttpContent body = Client.DaemonClient.Json(client, AccountsJsonContext.Default.McpOauthStoredClient);
                return await Send(HttpMethod.Post, PathBase, body, AccountsJsonContext.Default.McpOauthStoredClient, ct).ConfigureAwait(false);
            },
            async (issuer, redirect, ct) => (await Send(HttpMethod.Delete, $"{PathBase}?issuer={Q(issuer)}&redirect_uri={Q(redirect)}", null, AccountsJsonContext.Default.McpOauthClientForgotten, ct).ConfigureAwait(false))
                .TryGetValue(out McpOauthClientForgotten? gone, out KheishError? error) ? gone.Deleted : error);
    }
}
