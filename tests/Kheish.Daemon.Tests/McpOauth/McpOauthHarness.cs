using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Kheish.Daemon.Tests.Mcp;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.McpOauth;

/// <summary>
/// A real authorization server (<c>oidc-provider</c>: PKCE, resource indicators, dynamic
/// registration, RFC 9207 <c>iss</c>) and an MCP server written with the TypeScript SDK that
/// accepts only that server's access tokens for its resource, both on loopback (Node 22), plus
/// a real daemon. The "browser" is an HTTP client that follows the authorization server's
/// redirects and submits its login and consent forms. Every token the authorization server
/// issues is written to a file, so that every output can be scanned for it.
/// </summary>
public sealed partial class McpOauthHarness : IAsyncDisposable
{
    public const string Server = "secure";
    public const string Slot = "mcp.oauth.secure";

    private Process? _peer;
    private readonly StringBuilder _peerLogs = new();

    private McpOauthHarness(TempDir dir, string modules)
    {
        Dir = dir;
        Modules = modules;
    }

    public TempDir Dir { get; }

    public string Modules { get; }

    public string MasterKey { get; } = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));

    public string AdminToken { get; } = "adm-" + Guid.NewGuid().ToString("N");

    /// <summary>The authorization server puts this in its error bodies: it must never be shown.</summary>
    public string BodyCanary { get; } = Canary.New("oauthbody");

    public DaemonProcess Daemon { get; private set; } = null!;

    public string ApiKey { get; private set; } = null!;

    public string Issuer { get; private set; } = null!;

    public string Resource { get; private set; } = null!;

    public string TokensFile => Dir.File("issued-tokens.txt");

    public string Project => Dir.File("project");

    public Dictionary<string, string?> Env => new()
    {
        ["KHEISH_AUTH_STORE_MASTER_KEY"] = MasterKey,
        ["XDG_CONFIG_HOME"] = Dir.File("xdg"),
    };

    public static string? NodeModules()
    {
        string? dir = McpHarness.NodeModules();
        return dir is not null && Directory.Exists(Path.Combine(dir, "oidc-provider")) && File.Exists(Node22(dir)) ? dir : null;
    }

    private static string Node22(string modules) => Path.Combine(modules, "node", "bin", "node");

    public static async Task<McpOauthHarness> StartAsync(int accessTokenTtlSec = 3600)
    {
        string modules = NodeModules() ?? throw new InvalidOperationException("oidc-provider or node@22 missing: run scripts/test-deps.sh");
        var h = new McpOauthHarness(new TempDir(), modules);
        Directory.CreateDirectory(h.Project);
        await h.StartPeerAsync(accessTokenTtlSec);
        h.ApiKey = await h.GenerateKeyAsync("agent:coder");
        h.Daemon = await DaemonProcess.StartAsync(h.Dir.StateRoot, ["--http-admin-token", h.AdminToken, "--project-root", h.Project], h.Env);
        return h;
    }

    private async Task StartPeerAsync(int ttl)
    {
        string script = Dir.File("oauth-peer.mjs");
        File.WriteAllText(script, PeerScript);
        var psi = new ProcessStartInfo(Node22(Modules), [script]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.Environment["NODE_MODULES_DIR"] = Modules;
        psi.Environment["ACCESS_TOKEN_TTL"] = ttl.ToString(System.Globalization.CultureInfo.InvariantCulture);
        psi.Environment["TOKENS_FILE"] = TokensFile;
        psi.Environment["BODY_CANARY"] = BodyCanary;
        _peer = Process.Start(psi)!;
        _peer.ErrorDataReceived += (_, e) => { lock (_peerLogs) { _peerLogs.AppendLine(e.Data); } };
        _peer.BeginErrorReadLine();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (true)
        {
            string? line = await _peer.StandardOutput.ReadLineAsync(cts.Token);
            if (line is null)
            {
                throw new InvalidOperationException("the OAuth peer exited before listening: " + _peerLogs);
            }

            if (line.StartsWith('{'))
            {
                using JsonDocument doc = JsonDocument.Parse(line);
                Issuer = doc.RootElement.GetProperty("issuer").GetString()!;
                Resource = doc.RootElement.GetProperty("resource").GetString()!;
                _ = DrainAsync(_peer.StandardOutput);
                return;
            }
        }
    }

    private static async Task DrainAsync(StreamReader reader)
    {
        while (await reader.ReadLineAsync() is not null)
        {
        }
    }

    private async Task<string> GenerateKeyAsync(string principal)
    {
        CliResult key = await Support.Cli.RunAsync(["security", "generate-key", "--project-root", Project, "--principal", principal, "-o", "json"], Env);
        McpHarness.Require(key.ExitCode == 0, key.ToString());
        using JsonDocument doc = JsonDocument.Parse(key.Stdout);
        return doc.RootElement.GetProperty("key").GetString()!;
    }

    /// <summary>
    /// Switches the authorization server's test misbehaviours: grant extra scopes, fail every token
    /// request, answer a successful code exchange with <c>invalid_client</c> instead, or delete every
    /// client registered so far (oidc-provider then really knows them no more).
    /// </summary>
    public async Task ControlAsync(bool? escalate = null, bool? fail = null, bool? rejectExchange = null, bool forgetClients = false)
    {
        string q = (escalate is { } e ? "escalate=" + (e ? "1" : "0") + "&" : "") + (fail is { } f ? "fail=" + (f ? "1" : "0") + "&" : "")
            + (rejectExchange is { } x ? "reject_exchange=" + (x ? "1" : "0") + "&" : "") + (forgetClients ? "forget_clients=1" : "");
        await ControlJsonAsync(q);
    }

    /// <summary>How many dynamic registrations (RFC 7591, <c>POST /reg</c>) the authorization server answered with 201.</summary>
    public async Task<int> RegistrationsAsync()
    {
        using JsonDocument mode = JsonDocument.Parse(await ControlJsonAsync(""));
        return mode.RootElement.GetProperty("registrations").GetInt32();
    }

    private async Task<string> ControlJsonAsync(string query)
    {
        using var http = new HttpClient();
        using HttpResponseMessage r = await http.GetAsync(new Uri(Issuer + "/__control?" + query));
        r.EnsureSuccessStatusCode();
        return await r.Content.ReadAsStringAsync();
    }

    /// <summary>The public clients the daemon stores for reuse (GET .../mcp-oauth/clients).</summary>
    public async Task<string> StoredClientsJsonAsync()
    {
        using HttpClient admin = Daemon.Client(AdminToken);
        return await admin.GetStringAsync("/v1/runtime/auth/accounts/mcp-oauth/clients");
    }

    public Task<CliResult> OnlineAsync(params string[] args) =>
        Support.Cli.RunAsync([.. args, "--base-url", Daemon.BaseUri.ToString(), "--token", AdminToken], Env);

    /// <summary>
    /// Runs <c>mcp oauth login</c> with --no-open, reads the authorization URL it prints, and plays
    /// the browser; <paramref name="tamper"/> may rewrite the final redirect to the callback.
    /// </summary>
    public Task<CliResult> LoginAsync(Func<Uri, Uri>? tamper = null, params string[] extra) =>
        LoginToAsync(Server, Resource, tamper, ["--base-url", Daemon.BaseUri.ToString(), "--token", AdminToken, .. extra]);

    /// <summary>
    /// <c>mcp oauth login</c> to any server URL (another peer's too: the browser follows whatever
    /// authorization server the URL names), stored as <paramref name="server"/>; <paramref name="extra"/>
    /// says where (through this daemon, or <c>--offline --state-root</c>).
    /// </summary>
    public async Task<CliResult> LoginToAsync(string server, string url, Func<Uri, Uri>? tamper, string[] extra)
    {
        List<string> args = ["mcp", "oauth", "login", server, "--url", url, "--no-open", "--allow-http-for-loopback", "--timeout-sec", "60", "-o", "json", .. extra];
        using var process = Process.Start(Support.Cli.StartInfo(args, Env))!;
        process.StandardInput.Close();
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = new StringBuilder();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        string? authorize = null;
        while (await process.StandardError.ReadLineAsync(cts.Token) is { } line)
        {
            stderr.AppendLine(line);
            if (line.StartsWith("http", StringComparison.Ordinal))
            {
                authorize = line.Trim();
                break;
            }
        }

        Task<string> rest = process.StandardError.ReadToEndAsync(cts.Token);
        string browser = authorize is null ? "no authorization URL was printed" : await BrowseAsync(new Uri(authorize), tamper);
        await process.WaitForExitAsync(cts.Token);
        stderr.Append(await rest);
        LoginBrowserLog += browser;
        return new CliResult(process.ExitCode, await stdout, stderr.ToString());
    }

    /// <summary>What the simulated browser saw (scanned for tokens too).</summary>
    public string LoginBrowserLog { get; private set; } = "";

    /// <summary>Follows redirects, fills the login form (any login) and consents; ends at the CLI's callback.</summary>
    private static async Task<string> BrowseAsync(Uri start, Func<Uri, Uri>? tamper)
    {
        using var handler = new HttpClientHandler { AllowAutoRedirect = false, CookieContainer = new CookieContainer(), UseCookies = true };
        using var browser = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(30) };
        var log = new StringBuilder();
        HttpResponseMessage response = await browser.GetAsync(start);
        for (int step = 0; step < 20; step++)
        {
            HttpResponseMessage current = response;
            string body = await current.Content.ReadAsStringAsync();
            current.Dispose();
            log.AppendLine($"{(int)response.StatusCode} {response.RequestMessage?.RequestUri}");
            if ((int)response.StatusCode is >= 300 and < 400 && response.Headers.Location is { } location)
            {
                Uri next = location.IsAbsoluteUri ? location : new Uri(response.RequestMessage!.RequestUri!, location);
                if (next.AbsolutePath == "/callback")
                {
                    Uri target = tamper?.Invoke(next) ?? next;
                    using var plain = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
                    using HttpResponseMessage done = await plain.GetAsync(target);
                    log.AppendLine($"callback {(int)done.StatusCode} {await done.Content.ReadAsStringAsync()}");
                    return log.ToString();
                }

                response = await browser.GetAsync(next);
                continue;
            }

            Match form = FormAction().Match(body);
            if (response.StatusCode != HttpStatusCode.OK || !form.Success)
            {
                log.AppendLine(body.Length > 500 ? body[..500] : body);
                return log.ToString();
            }

            var fields = new Dictionary<string, string> { ["prompt"] = body.Contains("name=\"login\"", StringComparison.Ordinal) ? "login" : "consent" };
            if (fields["prompt"] == "login")
            {
                fields["login"] = "alice";
                fields["password"] = "any";
            }

            var action = new Uri(response.RequestMessage!.RequestUri!, WebUtility.HtmlDecode(form.Groups[1].Value));
            response = await browser.PostAsync(action, new FormUrlEncodedContent(fields));
        }

        return log + "too many steps";
    }

    [GeneratedRegex("<form[^>]*action=\"([^\"]+)\"")]
    private static partial Regex FormAction();

    /// <summary>Adds the OAuth-backed server to the daemon (managed definition).</summary>
    public async Task<HttpResponseMessage> AddServerAsync(string scopesJson = """["tools:read","tools:call"]""", string? resource = null)
    {
        using HttpClient admin = Daemon.Client(AdminToken);
        string body = $$"""{"name":"{{Server}}","url":"{{Resource}}","oauth_slot_ref":"{{Slot}}","oauth_scopes":{{scopesJson}}{{(resource is null ? "" : $",\"oauth_resource\":\"{resource}\"")}}}""";
        return await admin.PostAsync("/v1/runtime/mcp/servers", new StringContent(body, Encoding.UTF8, "application/json"));
    }

    /// <summary>An agent (TypeScript SDK client, X-API-Key) lists tools and calls one through /mcp.</summary>
    public async Task<string> AgentCallAsync(string tool)
    {
        string script = Dir.File("agent.cjs");
        File.WriteAllText(script, """
            const { Client } = require('@modelcontextprotocol/sdk/client/index.js');
            const { StreamableHTTPClientTransport } = require('@modelcontextprotocol/sdk/client/streamableHttp.js');
            (async () => {
              const transport = new StreamableHTTPClientTransport(new URL(process.env.MCP_URL), { requestInit: { headers: { 'X-API-Key': process.env.AGENT_KEY } } });
              const client = new Client({ name: 'oauth-agent', version: '1.0.0' });
              await client.connect(transport);
              const out = { tools: (await client.listTools()).tools.map(t => t.name) };
              try { out.result = await client.callTool({ name: process.env.CALL, arguments: {} }); }
              catch (e) { out.error = String((e && e.message) || e); }
              console.log(JSON.stringify(out));
              await client.close();
            })().catch(e => { console.log(JSON.stringify({ fatal: String((e && e.message) || e) })); });
            """);
        var psi = new ProcessStartInfo(Node22(Modules), [script]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.Environment["NODE_PATH"] = Modules;
        psi.Environment["MCP_URL"] = new Uri(Daemon.BaseUri, "/mcp").ToString();
        psi.Environment["AGENT_KEY"] = ApiKey;
        psi.Environment["CALL"] = tool;
        using Process p = Process.Start(psi)!;
        Task<string> stdout = p.StandardOutput.ReadToEndAsync();
        Task<string> stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        await p.WaitForExitAsync(cts.Token);
        return await stdout + await stderr;
    }

    public async Task<string> AccountsJsonAsync()
    {
        using HttpClient admin = Daemon.Client(AdminToken);
        return await admin.GetStringAsync("/v1/runtime/auth/accounts");
    }

    public IReadOnlyList<string> IssuedTokens() =>
        File.Exists(TokensFile) ? [.. File.ReadAllLines(TokensFile).Where(l => l.Length >= 16)] : [];

    /// <summary>No token the authorization server issued, and no error body, appears in any output, log or file but the encrypted store.</summary>
    public async Task AssertNoLeaksAsync(params string[] outputs)
    {
        if (!Daemon.HasExited)
        {
            await Daemon.StopAsync();
        }

        string everything = string.Join("\n", outputs) + Daemon.Logs + LoginBrowserLog;
        foreach (string secret in IssuedTokens().Append(BodyCanary).Append(MasterKey).Append(AdminToken))
        {
            Canary.AssertAbsent(secret, everything, "an output or the daemon logs");
            Canary.AssertAbsentFromFiles(secret, Dir, "issued-tokens.txt", "oauth-peer.mjs");
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Daemon is not null)
        {
            await Daemon.DisposeAsync();
        }

        if (_peer is { HasExited: false })
        {
            _peer.Kill(entireProcessTree: true);
            await _peer.WaitForExitAsync();
        }

        _peer?.Dispose();
        Dir.Dispose();
    }

    private const string PeerScript = """
        // A real authorization server (oidc-provider: PKCE, resource indicators, dynamic registration)
        // and an MCP server (TypeScript SDK) that accepts only its access tokens for its resource.
        import http from 'node:http';
        import { createRequire } from 'node:module';
        import { pathToFileURL } from 'node:url';
        import path from 'node:path';
        const modules = process.env.NODE_MODULES_DIR;
        const require = createRequire(path.join(modules, 'noop.js'));
        const { default: Provider, errors } = await import(pathToFileURL(path.join(modules, 'oidc-provider', 'lib', 'index.js')).href);
        const { McpServer } = require('@modelcontextprotocol/sdk/server/mcp.js');
        const { StreamableHTTPServerTransport } = require('@modelcontextprotocol/sdk/server/streamableHttp.js');
        const z = require('zod');

        const listen = (server) => new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
        const asServer = http.createServer();
        const mcpServer = http.createServer();
        const asPort = await listen(asServer);
        const mcpPort = await listen(mcpServer);
        const issuer = `http://127.0.0.1:${asPort}`;
        const resource = `http://127.0.0.1:${mcpPort}/mcp`;
        const ttl = Number(process.env.ACCESS_TOKEN_TTL || 3600);
        const mode = { escalate: false, failToken: false, rejectExchange: false, refreshes: 0, calls: 0, registrations: 0, clientIds: [] };

        const provider = new Provider(issuer, {
          clients: [],
          cookies: { keys: ['kheish-test-cookie-key'] },
          scopes: ['openid', 'offline_access'],
          features: {
            devInteractions: { enabled: true },
            registration: { enabled: true },
            revocation: { enabled: true },
            resourceIndicators: {
              enabled: true,
              defaultResource: () => resource,
              useGrantedResource: () => true,
              getResourceServerInfo: (ctx, indicator) => {
                if (indicator !== resource) throw new errors.InvalidTarget();
                return { scope: 'tools:read tools:call admin:all', audience: resource, accessTokenTTL: ttl, accessTokenFormat: 'opaque' };
              },
            },
          },
          issueRefreshToken: async () => true,
          ttl: { AccessToken: ttl, AuthorizationCode: 120, Grant: 3600, Interaction: 600, Session: 3600, RefreshToken: 86400 },
        });
        provider.proxy = false;
        // Misbehaviours the tests switch on: a token endpoint that grants more than asked, or fails.
        provider.use(async (ctx, next) => {
          if (ctx.path === '/token' && ctx.method === 'POST' && mode.failToken) {
            ctx.status = 400;
            ctx.body = { error: 'invalid_grant', error_description: 'refused ' + (process.env.BODY_CANARY || '') };
            return;
          }
          await next();
          if (ctx.path === '/reg' && ctx.method === 'POST' && ctx.status === 201 && ctx.body && ctx.body.client_id) {
            mode.registrations += 1;
            mode.clientIds.push(ctx.body.client_id);
          }
          if (ctx.path === '/token' && ctx.method === 'POST' && ctx.status === 200 && mode.rejectExchange) {
            // The real exchange succeeded; answer as a server that no longer accepts the client would.
            ctx.status = 401;
            ctx.body = { error: 'invalid_client', error_description: 'client gone ' + (process.env.BODY_CANARY || '') };
            return;
          }
          if (ctx.path === '/token' && ctx.method === 'POST' && ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
            mode.refreshes += 1;
            // Every issued token goes to a file the test scans every output for.
            if (process.env.TOKENS_FILE) {
              const fs = await import('node:fs');
              for (const k of ['access_token', 'refresh_token', 'id_token']) if (ctx.body[k]) fs.appendFileSync(process.env.TOKENS_FILE, ctx.body[k] + '\n');
            }
            if (mode.escalate) ctx.body.scope = (ctx.body.scope ? ctx.body.scope + ' ' : '') + 'admin:all';
          }
        });
        const callback = provider.callback();
        asServer.on('request', (req, res) => {
          if (req.url.startsWith('/__control')) {
            const q = new URL(req.url, issuer).searchParams;
            if (q.has('escalate')) mode.escalate = q.get('escalate') === '1';
            if (q.has('fail')) mode.failToken = q.get('fail') === '1';
            if (q.has('reject_exchange')) mode.rejectExchange = q.get('reject_exchange') === '1';
            if (q.has('forget_clients')) {
              Promise.all(mode.clientIds.map((id) => provider.Client.adapter.destroy(id))).then(() => {
                res.writeHead(200, { 'content-type': 'application/json' });
                res.end(JSON.stringify(mode));
              });
              return;
            }
            res.writeHead(200, { 'content-type': 'application/json' });
            res.end(JSON.stringify(mode));
            return;
          }
          callback(req, res);
        });

        const metadataUrl = `http://127.0.0.1:${mcpPort}/.well-known/oauth-protected-resource/mcp`;
        mcpServer.on('request', async (req, res) => {
          if (req.url === '/.well-known/oauth-protected-resource/mcp') {
            res.writeHead(200, { 'content-type': 'application/json' });
            res.end(JSON.stringify({ resource, authorization_servers: [issuer], scopes_supported: ['tools:read', 'tools:call'], bearer_methods_supported: ['header'] }));
            return;
          }
          if (!req.url.startsWith('/mcp')) { res.writeHead(404); res.end(); return; }
          const challenge = (err, extra) => `Bearer error="${err}", resource_metadata="${metadataUrl}", scope="tools:read tools:call"${extra || ''}`;
          const auth = req.headers['authorization'] || '';
          const token = auth.startsWith('Bearer ') ? auth.slice(7) : null;
          const at = token ? await provider.AccessToken.find(token) : null;
          if (!at || at.isExpired || at.aud !== resource) {
            res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': challenge('invalid_token') });
            res.end('{"jsonrpc":"2.0","error":{"code":-32001,"message":"unauthorized"},"id":null}');
            return;
          }
          const scopes = (at.scope || '').split(' ');
          if (!scopes.includes('tools:call')) {
            res.writeHead(403, { 'content-type': 'application/json', 'www-authenticate': challenge('insufficient_scope') });
            res.end('{"jsonrpc":"2.0","error":{"code":-32001,"message":"insufficient scope"},"id":null}');
            return;
          }
          if (req.method !== 'POST') { res.writeHead(405); res.end(); return; }
          let body = '';
          for await (const c of req) body += c;
          const mcp = new McpServer({ name: 'oauth-protected', version: '1.0.0' });
          mcp.registerTool('whoami', { description: 'who the token belongs to', inputSchema: {} }, async () => {
            mode.calls += 1;
            return { content: [{ type: 'text', text: `client=${at.clientId} scopes=${at.scope} aud=${at.aud}` }] };
          });
          mcp.registerTool('echo-auth', { description: 'echoes the Authorization header', inputSchema: {} },
            async () => ({ content: [{ type: 'text', text: 'you sent: ' + auth }] }));
          const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
          res.on('close', () => { transport.close(); mcp.close(); });
          await mcp.connect(transport);
          await transport.handleRequest(req, res, body ? JSON.parse(body) : undefined);
        });
        console.log(JSON.stringify({ issuer, resource, as_port: asPort, mcp_port: mcpPort }));
        """;
}
