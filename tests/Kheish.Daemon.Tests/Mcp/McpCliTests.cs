using System.Net;
using System.Text;
using System.Text.Json;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Mcp;

/// <summary>The mcp verbs and serve's MCP checks on the real binary.</summary>
public sealed class McpCliTests
{
    private static Dictionary<string, string?> KeyEnv(string key) => new() { ["KHEISH_AUTH_STORE_MASTER_KEY"] = key };

    private static string NewKey() => Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));

    [Test]
    public async Task Auth_catalog_lists_the_compiled_entries_with_their_slots()
    {
        CliResult r = await Support.Cli.RunAsync(["-o", "json", "mcp", "auth", "catalog"]);
        await Assert.That(r.ExitCode).IsEqualTo(0);
        using JsonDocument doc = JsonDocument.Parse(r.Stdout);
        var entries = doc.RootElement.GetProperty("entries").EnumerateArray().ToDictionary(e => e.GetProperty("id").GetString()!);
        foreach (string id in new[] { "github", "linear", "slack", "notion", "sentry", "brave-search", "postgres", "filesystem", "everything" })
        {
            McpHarness.Require(entries.ContainsKey(id), id);
        }

        JsonElement github = entries["github"];
        await Assert.That(github.GetProperty("command").GetString()).IsEqualTo("docker");
        await Assert.That(github.GetProperty("args").EnumerateArray().Select(a => a.GetString()!).ToArray()).IsEquivalentTo(["run", "-i", "--rm", "-e", "GITHUB_PERSONAL_ACCESS_TOKEN", "ghcr.io/github/github-mcp-server"], CollectionOrdering.Matching);
        await Assert.That(github.GetProperty("slots").EnumerateArray().Select(a => a.GetString()!).ToArray()).IsEquivalentTo(["mcp.github.GITHUB_PERSONAL_ACCESS_TOKEN"], CollectionOrdering.Matching);
    }

    [Test]
    public async Task Auth_set_offline_stores_a_generic_slot_that_auth_slots_then_reports_set()
    {
        using var dir = new TempDir();
        string key = NewKey();
        string canary = Canary.New("linear");
        Dictionary<string, string?> env = KeyEnv(key);
        env["LINEAR_TOKEN"] = canary;

        CliResult before = await Support.Cli.RunAsync(["-o", "json", "mcp", "auth", "slots", "linear", "--offline", "--state-root", dir.StateRoot], env);
        await Assert.That(before.ExitCode).IsEqualTo(0);
        await Assert.That(before.Stdout).Contains("\"set\":false");

        CliResult set = await Support.Cli.RunAsync(["-o", "json", "mcp", "auth", "set", "linear", "--from-env", "LINEAR_TOKEN", "--offline", "--state-root", dir.StateRoot], env);
        McpHarness.Require(set.ExitCode == 0, set.ToString());
        using (JsonDocument doc = JsonDocument.Parse(set.Stdout))
        {
            await Assert.That(doc.RootElement.GetProperty("slot_id").GetString()).IsEqualTo("mcp.linear.LINEAR_API_KEY");
            await Assert.That(doc.RootElement.GetProperty("provider").GetString()).IsEqualTo("generic");
        }

        CliResult after = await Support.Cli.RunAsync(["-o", "json", "mcp", "auth", "slots", "linear", "--offline", "--state-root", dir.StateRoot], env);
        using (JsonDocument doc = JsonDocument.Parse(after.Stdout))
        {
            JsonElement slot = doc.RootElement.GetProperty("slots")[0];
            await Assert.That(slot.GetProperty("slot_id").GetString()).IsEqualTo("mcp.linear.LINEAR_API_KEY");
            await Assert.That(slot.GetProperty("set").GetBoolean()).IsTrue();
        }

        foreach (CliResult r in new[] { before, set, after })
        {
            Canary.AssertAbsent(canary, r.All, "cli output");
        }

        Canary.AssertAbsentFromFiles(canary, dir);
    }

    [Test]
    [Arguments(new[] { "mcp", "auth", "set", "slack", "--from-env", "X" }, "credential_env_required")]
    [Arguments(new[] { "mcp", "auth", "set", "linear", "--credential-env", "NOPE", "--from-env", "X" }, "credential_env_unknown")]
    [Arguments(new[] { "mcp", "auth", "set", "linear" }, "secret_source_required")]
    [Arguments(new[] { "mcp", "auth", "slots", "nope" }, "mcp_catalog_entry_not_found")]
    public async Task Auth_verbs_refuse_bad_input_with_a_precise_code(string[] args, string code)
    {
        using var dir = new TempDir();
        CliResult r = await Support.Cli.RunAsync(["-o", "json", .. args, "--offline", "--state-root", dir.StateRoot], KeyEnv(NewKey()));
        await Assert.That(r.ExitCode).IsNotEqualTo(0);
        await Assert.That(r.Stdout).Contains($"\"code\":\"{code}\"");
        McpHarness.Require(!File.Exists(Path.Combine(dir.StateRoot, "auth", "global-slots.json")), "no state change");
    }

    [Test]
    public async Task Check_reports_every_problem_of_a_bad_file_and_serve_refuses_to_start_on_it()
    {
        using var dir = new TempDir();
        string file = dir.File("mcp.toml");
        File.WriteAllText(file, """
            [mcp_servers.one]
            command = "node"
            url = "https://x.example/mcp"

            [mcp_servers.two]
            command = "node"
            env_secret_refs = { TOKEN = "mcp.two.TOKEN" }
            inherit_env = true
            """);

        CliResult check = await Support.Cli.RunAsync(["-o", "json", "mcp", "check", file]);
        await Assert.That(check.ExitCode).IsEqualTo(2);
        using (JsonDocument doc = JsonDocument.Parse(check.Stdout))
        {
            string[] codes = [.. doc.RootElement.GetProperty("problems").EnumerateArray().Select(p => p.GetProperty("code").GetString()!)];
            await Assert.That(codes).Contains("mcp_server_transport");
            await Assert.That(codes).Contains("mcp_inherit_env_refused");
        }

        CliResult serve = await DaemonProcess.RunExpectingRefusalAsync(dir.StateRoot, ["--mcp-config", file], KeyEnv(NewKey()));
        await Assert.That(serve.ExitCode).IsNotEqualTo(0);
        await Assert.That(serve.Stderr).Contains("mcp server `one`");
        await Assert.That(serve.Stderr).Contains("mcp server `two`");
    }

    [Test]
    public async Task Serve_refuses_a_config_that_references_a_missing_slot_naming_server_and_slot()
    {
        using var dir = new TempDir();
        string file = dir.File("mcp.toml");
        File.WriteAllText(file, """
            [mcp_servers.linear]
            command = "npx"
            env_secret_refs = { LINEAR_API_KEY = "mcp.linear.LINEAR_API_KEY" }
            """);
        CliResult serve = await DaemonProcess.RunExpectingRefusalAsync(dir.StateRoot, ["--mcp-config", file], KeyEnv(NewKey()));
        await Assert.That(serve.ExitCode).IsNotEqualTo(0);
        await Assert.That(serve.Stderr).Contains("mcp server `linear` references missing slot `mcp.linear.LINEAR_API_KEY`");
    }

    [Test]
    public async Task Servers_add_list_remove_persist_references_only_and_a_referenced_slot_cannot_be_deleted()
    {
        if (McpHarness.NodeModules() is null) { Skip.Test("MCP npm peers are not installed (run scripts/test-deps.sh)"); return; }
        await using McpHarness h = await McpHarness.StartAsync();
        string secret = Canary.New("managed");

        // Over HTTP with a write-only value: stored into the slot, never in the definition.
        using HttpClient admin = h.Admin();
        string body = $$$"""
            {"name":"echo2","command":"node","args":["{{{h.EverythingEntry}}}","stdio"],
             "env_secret_refs":{"TOKEN2":"mcp.echo2.TOKEN2"},"values":{"mcp.echo2.TOKEN2":"{{{secret}}}"}}
            """;
        using HttpResponseMessage added = await admin.PostAsync("/v1/runtime/mcp/servers", new StringContent(body, Encoding.UTF8, "application/json"));
        string addedBody = await added.Content.ReadAsStringAsync();
        McpHarness.Require(added.IsSuccessStatusCode, addedBody);
        string stored = File.ReadAllText(Path.Combine(h.Dir.StateRoot, "mcp-servers.json"));
        await Assert.That(stored).Contains("mcp.echo2.TOKEN2");
        await Assert.That(stored).DoesNotContain(secret);
        await Assert.That(Convert.ToString((int)File.GetUnixFileMode(Path.Combine(h.Dir.StateRoot, "mcp-servers.json")), 8)).IsEqualTo("600");

        // The CLI sees it and can call through it.
        CliResult list = await h.OnlineAsync("-o", "json", "mcp", "servers", "list");
        McpHarness.Require(list.ExitCode == 0, list.ToString());
        await Assert.That(list.Stdout).Contains("\"server\":\"echo2\"");
        CliResult call = await h.OnlineAsync("mcp", "call", "echo2__get-env");
        McpHarness.Require(call.ExitCode == 0, call.ToString());
        await Assert.That(call.Stdout).Contains("[redacted:mcp.echo2.TOKEN2]");

        // A referenced slot answers 409 naming the server.
        using HttpResponseMessage del = await admin.DeleteAsync("/v1/runtime/secrets/mcp.echo2.TOKEN2");
        await Assert.That(del.StatusCode).IsEqualTo(HttpStatusCode.Conflict);
        await Assert.That(await del.Content.ReadAsStringAsync()).Contains("echo2");

        // A server from the config file cannot be removed over HTTP; the managed one can.
        CliResult refuse = await h.OnlineAsync("mcp", "servers", "remove", "everything");
        await Assert.That(refuse.ExitCode).IsEqualTo(6);
        CliResult remove = await h.OnlineAsync("mcp", "servers", "remove", "echo2");
        McpHarness.Require(remove.ExitCode == 0, remove.ToString());
        CliResult again = await h.OnlineAsync("mcp", "servers", "remove", "echo2");
        await Assert.That(again.ExitCode).IsEqualTo(5);

        CliResult runtime = await h.OnlineAsync("runtime", "get");
        McpHarness.Require(runtime.ExitCode == 0, runtime.ToString());
        await Assert.That(runtime.Stdout).Contains("everything (stdio, config)");

        await h.AssertNoLeaksAsync(call.All, list.All);
        foreach (string o in new[] { addedBody, list.All, call.All, refuse.All, remove.All, runtime.All })
        {
            Canary.AssertAbsent(secret, o, "a response");
        }

        Canary.AssertAbsent(secret, h.Daemon.Logs, "daemon logs");
        Canary.AssertAbsentFromFiles(secret, h.Dir, "global-slots.json");
    }

    [Test]
    public async Task Add_refuses_an_invalid_definition_without_changing_state()
    {
        if (McpHarness.NodeModules() is null) { Skip.Test("MCP npm peers are not installed (run scripts/test-deps.sh)"); return; }
        await using McpHarness h = await McpHarness.StartAsync();
        CliResult missing = await h.OnlineAsync("-o", "json", "mcp", "servers", "add", "bad", "--command", "node", "--env-secret-ref", "T=mcp.bad.MISSING");
        await Assert.That(missing.ExitCode).IsEqualTo(2);
        await Assert.That(missing.Stdout).Contains("mcp_secret_ref_missing");
        CliResult mixed = await h.OnlineAsync("-o", "json", "mcp", "servers", "add", "bad", "--command", "node", "--url", "https://x.example/mcp");
        await Assert.That(mixed.ExitCode).IsEqualTo(2);
        await Assert.That(File.Exists(Path.Combine(h.Dir.StateRoot, "mcp-servers.json"))).IsFalse();
    }
}
