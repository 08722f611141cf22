using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Kheish.Daemon.Tests.Support;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace Kheish.Daemon.Tests.Mcp;

/// <summary>
/// /mcp against the MCP project's own tools: the conformance suite (server mode) and the
/// Inspector CLI, both real npm peers on Node 22, through a real daemon with a real upstream.
/// </summary>
public sealed partial class McpPeerTests
{
    /// <summary>
    /// The conformance scenarios that apply to a gateway: protocol behaviour, not the reference
    /// fixture server's fixed names. The other scenarios call tools, prompts and resources by the
    /// names of the suite's own test server (<c>test_simple_text</c>, <c>test://static-text</c>,
    /// ...): a gateway names them <c>&lt;server&gt;__&lt;name&gt;</c> and its upstream here is
    /// server-everything, so they fail by construction and are listed in <see cref="FixtureScenarios"/>.
    /// </summary>
    private static readonly string[] ApplicableScenarios =
    [
        "server-initialize", "logging-set-level", "ping", "completion-complete", "tools-list",
        "server-sse-multiple-streams", "resources-list", "resources-subscribe", "resources-unsubscribe",
        "prompts-list", "dns-rebinding-protection",
    ];

    private static readonly string[] FixtureScenarios =
    [
        "tools-call-simple-text", "tools-call-image", "tools-call-audio", "tools-call-embedded-resource",
        "tools-call-mixed-content", "tools-call-with-logging", "tools-call-error", "tools-call-with-progress",
        "tools-call-sampling", "tools-call-elicitation", "elicitation-sep1034-defaults", "elicitation-sep1330-enums",
        "resources-read-text", "resources-read-binary", "resources-templates-read",
        "prompts-get-simple", "prompts-get-with-args", "prompts-get-embedded-resource", "prompts-get-with-image",
    ];

    /// <summary>Checks passed in the run recorded in the README (conformance 0.1.16, active suite).</summary>
    private const int RecordedPassedChecks = 13;

    private static string? Node22(string modules, string package, out string reason)
    {
        string node = Path.Combine(modules, "node", "bin", "node");
        reason = $"Node 22 or {package} is not installed under {modules} (run scripts/test-deps.sh)";
        return File.Exists(node) && Directory.Exists(Path.Combine(modules, package)) ? node : null;
    }

    /// <summary>Runs a Node script to completion (killed with its tree after <paramref name="timeout"/>); also used by the OAuth conformance test.</summary>
    internal static async Task<CliResult> RunNodeAsync(string node, IEnumerable<string> args, IDictionary<string, string> env, string cwd, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo(node) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = cwd };
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        foreach (var (k, v) in env)
        {
            psi.Environment[k] = v;
        }

        psi.Environment["NO_COLOR"] = "1";
        using Process p = Process.Start(psi)!;
        Task<string> stdout = p.StandardOutput.ReadToEndAsync();
        Task<string> stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"node {string.Join(' ', args)} did not finish within {timeout}: {await stdout}{await stderr}");
        }

        return new CliResult(p.ExitCode, await stdout, await stderr);
    }

    [GeneratedRegex(@"^server-(?<name>.+)-\d{4}-\d{2}-\d{2}T")]
    private static partial Regex ScenarioDir();

    [Test]
    public async Task Conformance_suite_in_server_mode_passes_every_scenario_that_applies_to_a_gateway()
    {
        string? modules = McpHarness.NodeModules();
        string? node = modules is null ? null : Node22(modules, Path.Combine("@modelcontextprotocol", "conformance"), out _);
        if (node is null) { Skip.Test("Node 22 / @modelcontextprotocol/conformance not installed (run scripts/test-deps.sh)"); return; }
        await using McpHarness h = await McpHarness.StartAsync();

        // The suite's client sends no custom header: a preload gives every request it makes
        // (fetch and undici both go through the global dispatcher) the agent's X-API-Key, so the
        // daemon stays in strict mode.
        string undici = new[] { Path.Combine(modules!, "undici"), Path.Combine(modules!, "@modelcontextprotocol", "conformance", "node_modules", "undici") }
            .First(d => Directory.Exists(d) || d.Contains("conformance", StringComparison.Ordinal));
        string preload = h.Dir.File("add-api-key.mjs");
        File.WriteAllText(preload, $$"""
            import { Agent, setGlobalDispatcher } from '{{Path.Combine(undici, "index.js")}}';
            const key = process.env.AGENT_KEY;
            setGlobalDispatcher(new Agent().compose((dispatch) => (opts, handler) => {
              const h = Array.isArray(opts.headers) ? [...opts.headers, 'x-api-key', key] : { ...(opts.headers || {}), 'x-api-key': key };
              return dispatch({ ...opts, headers: h }, handler);
            }));
            """);
        string outDir = h.Dir.File("conformance");
        CliResult run = await RunNodeAsync(
            node,
            ["--import", preload, Path.Combine(modules!, "@modelcontextprotocol", "conformance", "dist", "index.js"), "server", "--url", h.McpUri.ToString(), "-o", outDir],
            new Dictionary<string, string> { ["AGENT_KEY"] = h.ApiKey },
            h.Dir.Path,
            TimeSpan.FromMinutes(5));

        var passed = new Dictionary<string, int>(StringComparer.Ordinal);
        var failed = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (string dir in Directory.GetDirectories(outDir))
        {
            Match m = ScenarioDir().Match(Path.GetFileName(dir));
            McpHarness.Require(m.Success, $"unexpected conformance output {dir}");
            string name = m.Groups["name"].Value;
            using JsonDocument checks = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "checks.json")));
            foreach (JsonElement c in checks.RootElement.EnumerateArray())
            {
                string status = c.GetProperty("status").GetString()!;
                if (status == "SUCCESS")
                {
                    passed[name] = passed.GetValueOrDefault(name) + 1;
                }
                else if (status == "FAILURE")
                {
                    (failed.TryGetValue(name, out List<string>? list) ? list : failed[name] = []).Add(
                        c.GetProperty("id").GetString() + ": " + (c.TryGetProperty("errorMessage", out JsonElement e) ? e.GetString() : ""));
                }
            }
        }

        string report = $"conformance run (exit {run.ExitCode}):\n{run.Stdout[Math.Max(0, run.Stdout.IndexOf("=== SUMMARY", StringComparison.Ordinal))..]}\n{run.Stderr}";
        // Every scenario that applies ran and passed every check.
        foreach (string scenario in ApplicableScenarios)
        {
            McpHarness.Require(passed.ContainsKey(scenario), $"scenario {scenario} did not pass a check\n{report}");
            McpHarness.Require(!failed.ContainsKey(scenario), $"scenario {scenario} failed: {string.Join("; ", failed.GetValueOrDefault(scenario) ?? [])}\n{report}");
        }

        // The rest are the fixture-name scenarios, and they fail only because the name is not
        // there (a different failure, e.g. a transport error, is a regression).
        foreach (var (scenario, reasons) in failed)
        {
            McpHarness.Require(FixtureScenarios.Contains(scenario), $"scenario {scenario} is neither applicable nor a fixture scenario: {string.Join("; ", reasons)}");
            McpHarness.Require(reasons.All(r => r.Contains("is available to this caller", StringComparison.Ordinal)), $"scenario {scenario} failed for another reason than a fixture name: {string.Join("; ", reasons)}");
        }

        await Assert.That(passed.Values.Sum()).IsGreaterThanOrEqualTo(RecordedPassedChecks).Because(report);
        await h.AssertNoLeaksAsync(run.Stdout, run.Stderr);
    }

    /// <summary>The Inspector CLI reads its own package.json relative to the working directory: it runs from its build folder.</summary>
    private static async Task<CliResult> InspectorAsync(string node, string modules, McpHarness h, string key, params string[] args)
    {
        string build = Path.Combine(modules, "@modelcontextprotocol", "inspector-cli", "build");
        return await RunNodeAsync(
            node,
            [Path.Combine(build, "index.js"), h.McpUri.ToString(), "--transport", "http", "--header", "X-API-Key: " + key, "--header", "X-Kheish-Run-Id: run-inspector", .. args],
            new Dictionary<string, string>(),
            build,
            TimeSpan.FromMinutes(2));
    }

    [Test]
    public async Task Inspector_cli_lists_and_calls_tools_through_the_gateway_with_an_api_key()
    {
        string? modules = McpHarness.NodeModules();
        string? node = modules is null ? null : Node22(modules, Path.Combine("@modelcontextprotocol", "inspector-cli"), out _);
        if (node is null) { Skip.Test("Node 22 / @modelcontextprotocol/inspector-cli not installed (run scripts/test-deps.sh)"); return; }
        await using McpHarness h = await McpHarness.StartAsync();

        CliResult list = await InspectorAsync(node, modules!, h, h.ApiKey, "--method", "tools/list");
        McpHarness.Require(list.ExitCode == 0, list.ToString());
        using (JsonDocument tools = JsonDocument.Parse(list.Stdout))
        {
            string[] names = [.. tools.RootElement.GetProperty("tools").EnumerateArray().Select(t => t.GetProperty("name").GetString()!)];
            await Assert.That(names).Contains("everything__echo");
            await Assert.That(names.All(n => n.StartsWith("everything__", StringComparison.Ordinal))).IsTrue();
        }

        CliResult call = await InspectorAsync(node, modules!, h, h.ApiKey, "--method", "tools/call", "--tool-name", "everything__echo", "--tool-arg", "message=from-inspector");
        McpHarness.Require(call.ExitCode == 0, call.ToString());
        using (JsonDocument result = JsonDocument.Parse(call.Stdout))
        {
            await Assert.That(result.RootElement.GetProperty("content")[0].GetProperty("text").GetString()).IsEqualTo("Echo: from-inspector");
        }

        // The denied key sees nothing and cannot call; a wrong key is refused with a 401.
        CliResult denied = await InspectorAsync(node, modules!, h, h.DeniedKey, "--method", "tools/list");
        McpHarness.Require(denied.ExitCode == 0, denied.ToString());
        using (JsonDocument none = JsonDocument.Parse(denied.Stdout))
        {
            await Assert.That(none.RootElement.GetProperty("tools").GetArrayLength()).IsEqualTo(0);
        }

        CliResult deniedCall = await InspectorAsync(node, modules!, h, h.DeniedKey, "--method", "tools/call", "--tool-name", "everything__echo", "--tool-arg", "message=x");
        await Assert.That(deniedCall.ExitCode).IsNotEqualTo(0);
        await Assert.That(deniedCall.All).Contains("no tool named `everything__echo` is available");

        CliResult wrong = await InspectorAsync(node, modules!, h, "kheish_" + new string('0', 64), "--method", "tools/list");
        await Assert.That(wrong.ExitCode).IsNotEqualTo(0);
        await Assert.That(wrong.All).Contains("invalid_api_key");

        CliResult records = await h.SettledActionsAsync("run-inspector");
        McpHarness.Require(records.ExitCode == 0, records.ToString());
        using (JsonDocument ledger = JsonDocument.Parse(records.Stdout))
        {
            await Assert.That(ledger.RootElement.GetProperty("external_actions").EnumerateArray().Select(r => r.GetProperty("phase").GetString()!).ToArray())
                .IsEquivalentTo(["started", "completed"], CollectionOrdering.Matching);
        }

        await h.AssertNoLeaksAsync(list.All, call.All, denied.All, deniedCall.All, wrong.All, records.Stdout);
    }
}
