using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Mcp;

/// <summary>
/// A real daemon with MCP upstreams: <c>everything</c> (the npm reference server over stdio, with
/// one injected secret and one plain variable) and optionally <c>http</c> (a streamable HTTP
/// server written with the TypeScript SDK that refuses requests without its bearer token).
/// Two agent keys: <see cref="ApiKey"/> (no scope) and <see cref="DeniedKey"/> (mcp_server_deny
/// everything). The daemon's own environment carries <see cref="DaemonCanary"/>.
/// </summary>
public sealed class McpHarness : IAsyncDisposable
{
    public const string EverythingSlot = "mcp.everything.EVERYTHING_TOKEN";
    public const string HttpSlot = "mcp.http.TOKEN";

    private Process? _httpUpstream;

    private McpHarness(TempDir dir, string modules)
    {
        Dir = dir;
        Modules = modules;
    }

    public TempDir Dir { get; }

    public string Modules { get; }

    public string MasterKey { get; } = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));

    /// <summary>Injected into the everything server's environment: must reach it, and never an agent.</summary>
    public string InjectedSecret { get; } = Canary.New("injected");

    /// <summary>The HTTP upstream's bearer token, stored in <see cref="HttpSlot"/>.</summary>
    public string HttpToken { get; } = Canary.New("bearer");

    /// <summary>In the daemon's environment only: must never reach a child.</summary>
    public string DaemonCanary { get; } = Canary.New("daemonenv");

    public string AdminToken { get; } = "adm-" + Guid.NewGuid().ToString("N");

    public string ReadOnlyToken { get; } = "ro-" + Guid.NewGuid().ToString("N");

    /// <summary>Logs of daemons this harness stopped with <see cref="RestartAsync"/> (scanned by <see cref="AssertNoLeaksAsync"/>).</summary>
    public string EarlierLogs { get; private set; } = "";

    public DaemonProcess Daemon { get; private set; } = null!;

    public string ApiKey { get; private set; } = null!;

    public string DeniedKey { get; private set; } = null!;

    public int HttpPort { get; private set; }

    public string Project => Dir.File("project");

    public string ConfigFile => Dir.File("mcp.toml");

    public IEnumerable<string> Secrets => [InjectedSecret, HttpToken, DaemonCanary, MasterKey, AdminToken, ReadOnlyToken, ApiKey, DeniedKey];

    public Dictionary<string, string?> Env => new()
    {
        ["KHEISH_AUTH_STORE_MASTER_KEY"] = MasterKey,
        ["XDG_CONFIG_HOME"] = Dir.File("xdg"),
    };

    /// <summary>True (with the reason to skip) when the MCP npm peers are not installed.</summary>
    public static bool NoPeers(out string reason)
    {
        reason = "MCP npm peers are not installed (run scripts/test-deps.sh or set KHEISH_NODE_MODULES)";
        return NodeModules() is null;
    }

    public static string? NodeModules()
    {
        string? dir = Environment.GetEnvironmentVariable("KHEISH_NODE_MODULES");
        if (string.IsNullOrEmpty(dir))
        {
            dir = Path.Combine(DaemonBinary.RepoRoot, ".cache", "npm", "node_modules");
        }

        return Directory.Exists(Path.Combine(dir, "@modelcontextprotocol", "server-everything"))
            && Directory.Exists(Path.Combine(dir, "@modelcontextprotocol", "sdk")) ? dir : null;
    }

    public string EverythingEntry => Path.Combine(Modules, "@modelcontextprotocol", "server-everything", "dist", "index.js");

    public static async Task<McpHarness> StartAsync(bool withHttp = false, string? extraToml = null)
    {
        string modules = NodeModules() ?? throw new InvalidOperationException("MCP npm peers missing: run scripts/test-deps.sh");
        var h = new McpHarness(new TempDir(), modules);
        Directory.CreateDirectory(h.Project);
        await h.SetSlotAsync(EverythingSlot, h.InjectedSecret);
        var toml = new StringBuilder($$"""
            [mcp_servers.everything]
            command = "node"
            args = ["{{h.EverythingEntry}}", "stdio"]
            env = { PLAIN_SETTING = "visible-plain" }
            env_secret_refs = { EVERYTHING_TOKEN = "{{EverythingSlot}}" }
            tool_timeout_sec = 60

            """);
        if (withHttp)
        {
            await h.SetSlotAsync(HttpSlot, h.HttpToken);
            h.HttpPort = await h.StartHttpUpstreamAsync();
            toml.Append($"""
                [mcp_servers.http]
                url = "http://127.0.0.1:{h.HttpPort}/mcp"
                bearer_token_secret_ref = "{HttpSlot}"

                """);
        }

        toml.Append(extraToml ?? "");
        File.WriteAllText(h.ConfigFile, toml.ToString());
        h.ApiKey = await h.GenerateKeyAsync("agent:coder", null);
        h.DeniedKey = await h.GenerateKeyAsync("agent:limited", """{"mcp_server_deny":["everything"]}""");
        h.Daemon = await h.StartDaemonAsync();
        return h;
    }

    private Task<DaemonProcess> StartDaemonAsync()
    {
        Dictionary<string, string?> env = Env;
        env["KHEISH_TEST_DAEMON_CANARY"] = DaemonCanary;
        return DaemonProcess.StartAsync(
            Dir.StateRoot,
            ["--http-admin-token", AdminToken, "--http-readonly-token", ReadOnlyToken, "--project-root", Project, "--mcp-config", ConfigFile],
            env);
    }

    /// <summary>Stops the daemon (SIGKILL when <paramref name="kill"/>, else SIGTERM) and starts it again on the same state root.</summary>
    public async Task RestartAsync(bool kill)
    {
        await Daemon.StopAsync(kill);
        EarlierLogs += Daemon.Logs;
        await Daemon.DisposeAsync();
        Daemon = await StartDaemonAsync();
    }

    public async Task SetSlotAsync(string slot, string value)
    {
        Dictionary<string, string?> env = Env;
        env["SLOT_VALUE"] = value;
        CliResult set = await Support.Cli.RunAsync(
            ["secrets", "set", slot, "--offline", "--state-root", Dir.StateRoot, "--provider", "generic", "--from-env", "SLOT_VALUE"], env);
        McpHarness.Require(set.ExitCode == 0, set.ToString());
    }

    public async Task<string> GenerateKeyAsync(string principal, string? scopeJson)
    {
        List<string> args = ["security", "generate-key", "--project-root", Project, "--principal", principal, "-o", "json"];
        if (scopeJson is not null)
        {
            string file = Dir.File("scope-" + principal.Replace(':', '-') + ".json");
            File.WriteAllText(file, scopeJson);
            args.AddRange(["--scope-file", file]);
        }

        CliResult key = await Support.Cli.RunAsync(args, Env);
        McpHarness.Require(key.ExitCode == 0, key.ToString());
        using JsonDocument doc = JsonDocument.Parse(key.Stdout);
        return doc.RootElement.GetProperty("key").GetString()!;
    }

    private const string HttpUpstreamScript = """
        const { McpServer } = require('@modelcontextprotocol/sdk/server/mcp.js');
        const { StreamableHTTPServerTransport } = require('@modelcontextprotocol/sdk/server/streamableHttp.js');
        const z = require('zod');
        const http = require('http');
        const token = process.env.UPSTREAM_TOKEN;
        let lateTool = false;
        let listed = 0;
        const server = http.createServer(async (req, res) => {
          if (req.headers['authorization'] !== 'Bearer ' + token) {
            res.writeHead(401, { 'content-type': 'application/json' });
            res.end('{"jsonrpc":"2.0","error":{"code":-32001,"message":"unauthorized"},"id":null}');
            return;
          }
          if (req.method !== 'POST') { res.writeHead(405); res.end(); return; }
          let body = '';
          for await (const c of req) body += c;
          if (body.includes('"tools/list"')) listed++;
          const mcp = new McpServer({ name: 'http-upstream', version: '1.0.0' });
          mcp.registerTool('add', { description: 'adds two numbers', inputSchema: { a: z.number(), b: z.number() } },
            async ({ a, b }) => ({ content: [{ type: 'text', text: String(a + b) }] }));
          mcp.registerTool('echo-auth', { description: 'echoes the Authorization header it received', inputSchema: {} },
            async () => ({ content: [{ type: 'text', text: 'you sent: ' + req.headers['authorization'] }] }));
          mcp.registerTool('enable-late', { description: 'adds the tool `late` from now on', inputSchema: {} },
            async () => { lateTool = true; return { content: [{ type: 'text', text: 'late enabled' }] }; });
          mcp.registerTool('tools-listed', { description: 'how many tools/list requests this server received', inputSchema: {} },
            async () => ({ content: [{ type: 'text', text: String(listed) }] }));
          if (lateTool) {
            mcp.registerTool('late', { description: 'a tool added after the daemon connected', inputSchema: {} },
              async () => ({ content: [{ type: 'text', text: 'late answered' }] }));
          }
          const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
          res.on('close', () => { transport.close(); mcp.close(); });
          await mcp.connect(transport);
          await transport.handleRequest(req, res, body ? JSON.parse(body) : undefined);
        });
        server.listen(0, '127.0.0.1', () => console.log('LISTENING ' + server.address().port));
        """;

    private async Task<int> StartHttpUpstreamAsync()
    {
        string script = Dir.File("http-upstream.cjs");
        File.WriteAllText(script, HttpUpstreamScript);
        var psi = new ProcessStartInfo("node", [script]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.Environment["NODE_PATH"] = Modules;
        psi.Environment["UPSTREAM_TOKEN"] = HttpToken;
        _httpUpstream = Process.Start(psi)!;
        _httpUpstream.ErrorDataReceived += (_, _) => { };
        _httpUpstream.BeginErrorReadLine();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (true)
        {
            string? line = await _httpUpstream.StandardOutput.ReadLineAsync(cts.Token);
            if (line is null)
            {
                throw new InvalidOperationException("the HTTP upstream exited before listening");
            }

            if (line.StartsWith("LISTENING ", StringComparison.Ordinal))
            {
                return int.Parse(line["LISTENING ".Length..], System.Globalization.CultureInfo.InvariantCulture);
            }
        }
    }

    public Uri McpUri => new(Daemon.BaseUri, "/mcp");

    /// <summary>Fails with <paramref name="message"/> (process output, logs) when <paramref name="ok"/> is false.</summary>
    public static void Require(bool ok, string message)
    {
        if (!ok)
        {
            Assert.Fail(message);
        }
    }

    public HttpClient Admin() => Daemon.Client(AdminToken);

    public Task<CliResult> OnlineAsync(params string[] args) =>
        Support.Cli.RunAsync([.. args, "--base-url", Daemon.BaseUri.ToString(), "--token", AdminToken], Env);

    public Task<CliResult> OfflineAsync(params string[] args) =>
        Support.Cli.RunAsync([.. args, "--offline", "--state-root", Dir.StateRoot], Env);

    /// <summary>
    /// The run's external-action records (offline, JSON) once every started record has its outcome:
    /// the gateway appends a completed record after answering, off the call's path, so it can trail
    /// the answer the client already has.
    /// </summary>
    public async Task<CliResult> SettledActionsAsync(string runId)
    {
        CliResult records = await OfflineAsync("-o", "json", "runs", "external-actions", runId);
        for (int attempt = 0; attempt < 150 && !(records.ExitCode == 0 && Settled(records.Stdout)); attempt++)
        {
            await Task.Delay(100);
            records = await OfflineAsync("-o", "json", "runs", "external-actions", runId);
        }

        return records;

        static bool Settled(string json)
        {
            using JsonDocument doc = JsonDocument.Parse(json);
            string[] phases = [.. doc.RootElement.GetProperty("external_actions").EnumerateArray().Select(r => r.GetProperty("phase").GetString()!)];
            return phases.Count(p => p == "started") == phases.Count(p => p != "started");
        }
    }

    /// <summary>Runs a TypeScript SDK client script against /mcp; returns its stdout JSON.</summary>
    public async Task<JsonDocument> TsClientAsync(string key, string? call = null, string? argsJson = null, string runId = "run-ts")
    {
        string script = Dir.File("ts-client.cjs");
        File.WriteAllText(script, """
            const { Client } = require('@modelcontextprotocol/sdk/client/index.js');
            const { StreamableHTTPClientTransport } = require('@modelcontextprotocol/sdk/client/streamableHttp.js');
            (async () => {
              const transport = new StreamableHTTPClientTransport(new URL(process.env.MCP_URL), {
                requestInit: { headers: { 'X-API-Key': process.env.AGENT_KEY, 'X-Kheish-Run-Id': process.env.RUN_ID } } });
              const client = new Client({ name: 'ts-test', version: '1.0.0' });
              await client.connect(transport);
              const out = { protocol: transport.protocolVersion, session: !!transport.sessionId };
              const tools = await client.listTools();
              out.tools = tools.tools.map(t => t.name);
              if (process.env.CALL) {
                try { out.result = await client.callTool({ name: process.env.CALL, arguments: JSON.parse(process.env.ARGS || '{}') }); }
                catch (e) { out.error = String((e && e.message) || e); out.code = e && e.code; }
              }
              console.log(JSON.stringify(out));
              await client.close();
            })().catch(e => { console.error('client error: ' + (e && e.message)); process.exit(1); });
            """);
        var psi = new ProcessStartInfo("node", [script]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.Environment["NODE_PATH"] = Modules;
        psi.Environment["MCP_URL"] = McpUri.ToString();
        psi.Environment["AGENT_KEY"] = key;
        psi.Environment["RUN_ID"] = runId;
        if (call is not null)
        {
            psi.Environment["CALL"] = call;
            psi.Environment["ARGS"] = argsJson ?? "{}";
        }

        using Process p = Process.Start(psi)!;
        Task<string> stdout = p.StandardOutput.ReadToEndAsync();
        Task<string> stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await p.WaitForExitAsync(cts.Token);
        string output = await stdout;
        McpHarness.Require(p.ExitCode == 0, $"ts client failed: {await stderr}\n{output}\n{Daemon.Logs}");
        return JsonDocument.Parse(output);
    }

    /// <summary>Every response, log and file this test produced, scanned for every secret.</summary>
    public async Task AssertNoLeaksAsync(params string[] outputs)
    {
        // Stopped first: its logs are complete and no file is being written while it is scanned.
        if (!Daemon.HasExited)
        {
            await Daemon.StopAsync();
        }

        foreach (string secret in Secrets)
        {
            Canary.AssertAbsent(secret, EarlierLogs + Daemon.Logs, "daemon logs");
            foreach (string o in outputs)
            {
                Canary.AssertAbsent(secret, o, "a response");
            }
        }

        // The encrypted store holds the slot values; nothing else may.
        Canary.AssertAbsentFromFiles(InjectedSecret, Dir, "global-slots.json");
        Canary.AssertAbsentFromFiles(HttpToken, Dir, "global-slots.json", "http-upstream.cjs");
        Canary.AssertAbsentFromFiles(DaemonCanary, Dir);
        Canary.AssertAbsentFromFiles(MasterKey, Dir);
    }

    public async ValueTask DisposeAsync()
    {
        if (Daemon is not null)
        {
            await Daemon.DisposeAsync();
        }

        if (_httpUpstream is { HasExited: false })
        {
            _httpUpstream.Kill();
            await _httpUpstream.WaitForExitAsync();
        }

        _httpUpstream?.Dispose();
        Dir.Dispose();
    }
}
