// "The client" for the @modelcontextprotocol/conformance client authorization scenarios:
// kheish-daemon as an operator would use it. The suite appends its MCP server URL to the command
// and sets MCP_CONFORMANCE_SCENARIO (and MCP_CONFORMANCE_CONTEXT for credentials).
//   1. `mcp oauth login conf --url <URL> --no-open --offline --state-root <tmp>`; the authorization
//      URL it prints is followed like a browser (the suite's /authorize redirects straight to the
//      loopback callback, no login page).
//   2. `serve` with an HTTP MCP server whose oauth_slot_ref is that account; an MCP client (the
//      TypeScript SDK, with an agent API key) initializes, lists and calls `conf__test-tool` through /mcp.
//   3. A call refused with insufficient_scope names the scopes the server asks for; the operator
//      logs in again once with them (through the running daemon), as the daemon tells them to, and
//      the call is retried. Never more than once: no loop.
// Exit 0 when the tool call succeeded. Env: KHEISH_DAEMON_BIN, KHEISH_AUTH_STORE_MASTER_KEY,
// NODE_MODULES_DIR (the SDK), CONFORMANCE_WORK (where per-run state roots go).
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const url = process.argv[process.argv.length - 1];
const scenario = process.env.MCP_CONFORMANCE_SCENARIO || '';
const context = process.env.MCP_CONFORMANCE_CONTEXT ? JSON.parse(process.env.MCP_CONFORMANCE_CONTEXT) : {};
const bin = process.env.KHEISH_DAEMON_BIN;
const require = createRequire(path.join(process.env.NODE_MODULES_DIR, 'noop.js'));
const work = fs.mkdtempSync(path.join(process.env.CONFORMANCE_WORK, scenario.replace(/[^a-z0-9-]/gi, '_') + '-'));
const state = path.join(work, 'state');
const project = path.join(work, 'project');
fs.mkdirSync(project, { recursive: true });
const log = (...a) => console.error('[driver]', ...a);

// The CLI gets only what it needs: the master key, and the client secret where the scenario gives one.
const baseEnv = { PATH: process.env.PATH, HOME: work, XDG_CONFIG_HOME: path.join(work, 'xdg'), KHEISH_AUTH_STORE_MASTER_KEY: process.env.KHEISH_AUTH_STORE_MASTER_KEY };

function start(args, env = {}) {
  return spawn(bin, args, { env: { ...baseEnv, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

function collect(child, onErrLine) {
  let stdout = '';
  let stderr = '';
  let partial = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => {
    stderr += d;
    partial += d;
    let i;
    while ((i = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, i);
      partial = partial.slice(i + 1);
      if (onErrLine) onErrLine(line);
    }
  });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

// Plays the browser: follows redirects until the loopback callback, which gets exactly one GET.
async function browse(authorizeUrl) {
  let next = authorizeUrl;
  for (let step = 0; step < 10; step++) {
    const r = await fetch(next, { redirect: 'manual' });
    await r.text();
    const location = r.headers.get('location');
    if (!location) { log(`browser stopped at ${r.status} ${new URL(next).pathname}`); return; }
    next = new URL(location, next).href;
    if (new URL(next).pathname === '/callback') {
      const done = await fetch(next);
      log(`callback answered ${done.status}`);
      await done.text();
      return;
    }
  }
}

async function login(extra) {
  const args = ['mcp', 'oauth', 'login', 'conf', '--url', url, '--no-open', '--allow-http-for-loopback', '--timeout-sec', '15', '-o', 'json'];
  const env = {};
  if (scenario === 'auth/pre-registration') {
    args.push('--client-id', context.client_id, '--client-secret-env', 'CONFORMANCE_CLIENT_SECRET');
    env.CONFORMANCE_CLIENT_SECRET = context.client_secret;
  }
  if (scenario === 'auth/basic-cimd') {
    args.push('--client-metadata-url', 'https://conformance-test.local/client-metadata.json');
  }
  const child = start([...args, ...extra], env);
  let browsing = Promise.resolve();
  const result = await collect(child, (line) => {
    if (line.startsWith('http')) browsing = browse(line.trim());
  });
  await browsing;
  log(`login exit ${result.code}: ${result.stderr.split('\n').filter((l) => !l.startsWith('http')).join(' | ')}`);
  return result.code === 0 ? JSON.parse(result.stdout) : null;
}

async function serve(resource) {
  const key = await collect(start(['security', 'generate-key', '--project-root', project, '--principal', 'agent:conformance', '-o', 'json']));
  if (key.code !== 0) throw new Error('generate-key failed: ' + key.stderr);
  const apiKey = JSON.parse(key.stdout).key;
  const config = path.join(work, 'mcp.toml');
  fs.writeFileSync(config, `[mcp_servers.conf]\nurl = ${JSON.stringify(url)}\noauth_slot_ref = "mcp.oauth.conf"\noauth_resource = ${JSON.stringify(resource)}\n`);
  const admin = crypto.randomBytes(32).toString('hex');
  const daemon = start(['serve', '--bind', '127.0.0.1:0', '--state-root', state, '--project-root', project, '--mcp-config', config, '--http-admin-token', admin]);
  const output = { text: '' };
  const base = await new Promise((resolve, reject) => {
    let seen = '';
    const onData = (d) => {
      seen += d;
      output.text += d;
      const m = /listening on (http:\/\/\S+)/.exec(seen);
      if (m) resolve(m[1]);
    };
    daemon.stdout.on('data', onData);
    daemon.stderr.on('data', onData);
    daemon.on('close', () => reject(new Error('serve exited: ' + seen)));
  });
  return { daemon, base, apiKey, admin, output };
}

async function callTool(base, apiKey) {
  const { Client } = require('@modelcontextprotocol/sdk/client/index.js');
  const { StreamableHTTPClientTransport } = require('@modelcontextprotocol/sdk/client/streamableHttp.js');
  const transport = new StreamableHTTPClientTransport(new URL('/mcp', base), { requestInit: { headers: { 'X-API-Key': apiKey } } });
  const client = new Client({ name: 'kheish-conformance-driver', version: '1.0.0' });
  await client.connect(transport);
  try {
    const tools = (await client.listTools()).tools.map((t) => t.name);
    log(`tools through the gateway: ${tools.join(', ')}`);
    const result = await client.callTool({ name: 'conf__test-tool', arguments: {} });
    const text = (result.content || []).map((c) => c.text || '').join(' ');
    return { ok: !result.isError, text };
  } catch (e) {
    return { ok: false, text: String((e && e.message) || e) };
  } finally {
    await client.close();
  }
}

let exit = 1;
let server;
try {
  const account = await login(['--offline', '--state-root', state]);
  if (account) {
    server = await serve(account.details.resource);
    let call = await callTool(server.base, server.apiKey);
    const stepUp = /--scopes ([^\s']+)'/.exec(call.text);
    if (!call.ok && call.text.includes('insufficient_scope') && stepUp) {
      log(`insufficient_scope: the operator logs in again once with --scopes ${stepUp[1]}`);
      const again = await login(['--scopes', stepUp[1], '--base-url', server.base, '--token', server.admin]);
      if (again) call = await callTool(server.base, server.apiKey);
    }
    log(`tool call ${call.ok ? 'succeeded' : 'failed'}: ${call.text.slice(0, 300)}`);
    exit = call.ok ? 0 : 1;
  }
} catch (e) {
  log('driver error: ' + ((e && e.stack) || e));
} finally {
  if (server) {
    server.daemon.kill('SIGTERM');
    await new Promise((resolve) => server.daemon.on('close', resolve));
    // The daemon's own logs, for the caller's secret scan.
    for (const line of server.output.text.split('\n').slice(-300)) if (line) log('daemon: ' + line);
  }
}
process.exit(exit);
