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

    [Fact]
    public async Task Auth_catalog_lists_the_compiled_entries_with_their_slots()
    {
        CliResult r = await Support.Cli.RunAsync(["-o", "json", "mcp", "auth", "catalog"]);
        Assert.Equal(0, r.ExitCode);
        using JsonDocument doc = JsonDocument.Parse(r.Stdout);
        var entries = doc.RootElement.GetProperty("entries").EnumerateArray().ToDictionary(e => e.GetProperty("id").GetString()!);
        foreach (string id in new[] { "github", "linear", "slack", "notion", "sentry", "brave-search", "postgres", "filesystem", "everything" })
        {
            Assert.True(entries.ContainsKey(id), id);
        }

        JsonElement github = entries["github"];
        Assert.Equal("docker", github.GetProperty("command").GetString());
        Assert.Equal(["run", "-i", "--rm", "-e", "GITHUB_PERSONAL_ACCESS_TOKEN", "ghcr.io/github/github-mcp-server"],
            github.GetProperty("args").EnumerateArray().Select(a => a.GetString()));
        Assert.Equal(["mcp.github.GITHUB_PERSONAL_ACCESS_TOKEN"], github.GetProperty("slots").EnumerateArray().Select(a => a.GetString()));
    }

    [Fact]
    public async Task Auth_set_offline_stores_a_generic_slot_that_auth_slots_then_reports_set()
    {
        using var dir = new TempDir();
        string key = NewKey();
        string canary = Canary.New("linear");
        Dictionary<string, string?> env = KeyEnv(key);
        env["LINEAR_TOKEN"] = canary;

        CliResult before = await Support.Cli.RunAsync(["-o", "json", "mcp", "auth", "slots", "linear", "--offline", "--state-root", dir.StateRoot], env);
        Assert.Equal(0, before.ExitCode);
        Assert.Contains("\"set\":false", before.Stdout, StringComparison.Ordinal);

        CliResult set = await Support.Cli.RunAsync(["-o", "json", "mcp", "auth", "set", "linear", "--from-env", "LINEAR_TOKEN", "--offline", "--state-root", dir.StateRoot], env);
        Assert.True(set.ExitCode == 0, set.ToString());
        using (JsonDocument doc = JsonDocument.Parse(set.Stdout))
        {
            Assert.Equal("mcp.linear.LINEAR_API_KEY", doc.RootElement.GetProperty("slot_id").GetString());
            Assert.Equal("generic", doc.RootElement.GetProperty("provider").GetString());
        }

        CliResult after = await Support.Cli.RunAsync(["-o", "json", "mcp", "auth", "slots", "linear", "--offline", "--state-root", dir.StateRoot], env);
        using (JsonDocument doc = JsonDocument.Parse(after.Stdout))
        {
            JsonElement slot = doc.RootElement.GetProperty("slots")[0];
            Assert.Equal("mcp.linear.LINEAR_API_KEY", slot.GetProperty("slot_id").GetString());
            Assert.True(slot.GetProperty("set").GetBoolean());
        }

        foreach (CliResult r in new[] { before, set, after })
        {
            Canary.AssertAbsent(canary, r.All, "cli output");
        }

        Canary.AssertAbsentFromFiles(canary, dir);
    }

    [Theory]
    [InlineData(new[] { "mcp", "auth", "set", "slack", "--from-env", "X" }, "credential_env_required")]
    [InlineData(new[] { "mcp", "auth", "set", "linear", "--credential-env", "NOPE", "--from-env", "X" }, "credential_env_unknown")]
    [InlineData(new[] { "mcp", "auth", "set", "linear" }, "secret_source_required")]
    [InlineData(new[] { "mcp", "auth", "slots", "nope" }, "mcp_catalog_entry_not_found")]
    public async Task Auth_verbs_refuse_bad_input_with_a_precise_code(string[] args, string code)
    {
        using var dir = new TempDir();
        CliResult r = await Support.Cli.RunAsync(["-o", "json", .. args, "--offline", "--state-root", dir.StateRoot], KeyEnv(NewKey()));
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains($"\"code\":\"{code}\"", r.Stdout, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(dir.StateRoot, "auth")) && File.Exists(Path.Combine(dir.StateRoot, "auth", "global-slots.json")), "no state change");
    }

    [Fact]
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
        Assert.Equal(2, check.ExitCode);
        using (JsonDocument doc = JsonDocument.Parse(check.Stdout))
        {
            string[] codes = [.. doc.RootElement.GetProperty("problems").EnumerateArray().Select(p => p.GetProperty("code").GetString()!)];
            Assert.Contains("mcp_server_transport", codes);
            Assert.Contains("mcp_inherit_env_refused", codes);
        }

        CliResult serve = await DaemonProcess.RunExpectingRefusalAsync(dir.StateRoot, ["--mcp-config", file], KeyEnv(NewKey()));
        Assert.NotEqual(0, serve.ExitCode);
        Assert.Contains("mcp server `one`", serve.Stderr, StringComparison.Ordinal);
        Assert.Contains("mcp server `two`", serve.Stderr, StringComparison.Ordinal);
    }

    [Fact]
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
        Assert.NotEqual(0, serve.ExitCode);
        Assert.Contains("mcp server `linear` references missing slot `mcp.linear.LINEAR_API_KEY`", serve.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Servers_add_list_remove_persist_references_only_and_a_referenced_slot_cannot_be_deleted()
    {
        if (McpHarness.NodeModules() is null) { Assert.Skip("MCP npm peers are not installed (run scripts/test-deps.sh)"); return; }
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
        Assert.True(added.IsSuccessStatusCode, addedBody);
        string stored = File.ReadAllText(Path.Combine(h.Dir.StateRoot, "mcp-servers.json"));
        Assert.Contains("mcp.echo2.TOKEN2", stored, StringComparison.Ordinal);
        Assert.DoesNotContain(secret, stored, StringComparison.Ordinal);
        Assert.Equal("600", Convert.ToString((int)File.GetUnixFileMode(Path.Combine(h.Dir.StateRoot, "mcp-servers.json")), 8));

        // The CLI sees it and can call through it.
        CliResult list = await h.OnlineAsync("-o", "json", "mcp", "servers", "list");
        Assert.True(list.ExitCode == 0, list.ToString());
        Assert.Contains("\"server\":\"echo2\"", list.Stdout, StringComparison.Ordinal);
        CliResult call = await h.OnlineAsync("mcp", "call", "echo2__get-env");
        Assert.True(call.ExitCode == 0, call.ToString());
        Assert.Contains("[redacted:mcp.echo2.TOKEN2]", call.Stdout, StringComparison.Ordinal);

        // A referenced slot answers 409 naming the server.
        using HttpResponseMessage del = await admin.DeleteAsync("/v1/runtime/secrets/mcp.echo2.TOKEN2");
        Assert.Equal(HttpStatusCode.Conflict, del.StatusCode);
        Assert.Contains("echo2", await del.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // A server from the config file cannot be removed over HTTP; the managed one can.
        CliResult refuse = await h.OnlineAsync("mcp", "servers", "remove", "everything");
        Assert.Equal(6, refuse.ExitCode);
        CliResult remove = await h.OnlineAsync("mcp", "servers", "remove", "echo2");
        Assert.True(remove.ExitCode == 0, remove.ToString());
        CliResult again = await h.OnlineAsync("mcp", "servers", "remove", "echo2");
        Assert.Equal(5, again.ExitCode);

        CliResult runtime = await h.OnlineAsync("runtime", "get");
        Assert.True(runtime.ExitCode == 0, runtime.ToString());
        Assert.Contains("everything (stdio, config)", runtime.Stdout, StringComparison.Ordinal);

        await h.AssertNoLeaksAsync(call.All, list.All);
        foreach (string o in new[] { addedBody, list.All, call.All, refuse.All, remove.All, runtime.All })
        {
            Canary.AssertAbsent(secret, o, "a response");
        }

        Canary.AssertAbsent(secret, h.Daemon.Logs, "daemon logs");
        Canary.AssertAbsentFromFiles(secret, h.Dir, "global-slots.json");
    }

    [Fact]
    public async Task Add_refuses_an_invalid_definition_without_changing_state()
    {
        if (McpHarness.NodeModules() is null) { Assert.Skip("MCP npm peers are not installed (run scripts/test-deps.sh)"); return; }
        await using McpHarness h = await McpHarness.StartAsync();
        CliResult missing = await h.OnlineAsync("-o", "json", "mcp", "servers", "add", "bad", "--command", "node", "--env-secret-ref", "T=mcp.bad.MISSING");
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("mcp_secret_ref_missing", missing.Stdout, StringComparison.Ordinal);
        CliResult mixed = await h.OnlineAsync("-o", "json", "mcp", "servers", "add", "bad", "--command", "node", "--url", "https://x.example/mcp");
        Assert.Equal(2, mixed.ExitCode);
        Assert.False(File.Exists(Path.Combine(h.Dir.StateRoot, "mcp-servers.json")));
    }
}
