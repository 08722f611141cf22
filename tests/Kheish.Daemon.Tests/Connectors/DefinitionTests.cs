using System.Net;
using System.Text;
using System.Text.Json;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Connectors;

/// <summary>Connector definitions: write-only secret fields, the state file, bad input, slot references, the CLI.</summary>
public sealed class DefinitionTests
{
    [Fact]
    public async Task An_inline_value_goes_into_a_slot_and_reads_show_only_where_it_comes_from()
    {
        await using ConnectorHarness h = await ConnectorHarness.StartAsync();
        string secret = Canary.New("inline");

        var put = await h.PutAsync("slack", "team", $"{{\"signing_secret\":{{\"value\":\"{secret}\"}},\"bot_token\":{{\"env\":\"SLACK_BOT\"}}}}");
        var get = await h.SendAsync(HttpMethod.Get, "/v1/runtime/connectors/slack/team", bearer: h.Admin);
        var list = await h.SendAsync(HttpMethod.Get, "/v1/runtime/connectors", bearer: h.Admin);
        var slot = await h.SendAsync(HttpMethod.Get, "/v1/runtime/secrets/connectors.team.SIGNING_SECRET", bearer: h.Admin);
        var deleteSlot = await h.SendAsync(HttpMethod.Delete, "/v1/runtime/secrets/connectors.team.SIGNING_SECRET", bearer: h.Admin);
        byte[] file = File.ReadAllBytes(Path.Combine(h.Dir.StateRoot, "connectors.json"));
        UnixFileMode mode = File.GetUnixFileMode(Path.Combine(h.Dir.StateRoot, "connectors.json"));

        Assert.True(put.Status == HttpStatusCode.OK, put.Text);
        JsonElement signing = get.Body.GetProperty("signing_secret");
        Assert.Equal(["configured", "source", "secret_ref"], signing.EnumerateObject().Select(p => p.Name).ToArray());
        Assert.Equal("inline", signing.GetProperty("source").GetString());
        Assert.Equal("connectors.team.SIGNING_SECRET", signing.GetProperty("secret_ref").GetString());
        Assert.Equal("env", get.Body.GetProperty("bot_token").GetProperty("source").GetString());
        Assert.Equal("SLACK_BOT", get.Body.GetProperty("bot_token").GetProperty("env").GetString());
        Assert.Single(list.Body.GetProperty("connectors").EnumerateArray());
        Assert.Equal(HttpStatusCode.OK, slot.Status);
        Assert.Equal(HttpStatusCode.Conflict, deleteSlot.Status);
        Assert.Contains("slack/team", deleteSlot.Body.GetProperty("detail").GetString());
        Assert.Contains("\"key_id\"", Encoding.UTF8.GetString(file));
        Assert.DoesNotContain("signing_secret", Encoding.UTF8.GetString(file));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, mode);

        var delete = await h.SendAsync(HttpMethod.Delete, "/v1/runtime/connectors/slack/team", bearer: h.Admin);
        var slotAfter = await h.SendAsync(HttpMethod.Get, "/v1/runtime/secrets/connectors.team.SIGNING_SECRET", bearer: h.Admin);
        Assert.Equal(HttpStatusCode.OK, delete.Status);
        Assert.Equal(HttpStatusCode.NotFound, slotAfter.Status);
        await h.StopAndAssertNoLeakAsync(secret);
    }

    [Fact]
    public async Task Without_a_master_key_an_inline_value_is_refused_and_nothing_is_written()
    {
        await using ConnectorHarness h = await ConnectorHarness.StartAsync(masterKey: false);

        var put = await h.PutAsync("telegram", "tg", "{\"secret_token\":{\"value\":\"s3cr3t-value\"}}");
        var byEnv = await h.PutAsync("telegram", "tg2", "{\"secret_token\":{\"env\":\"TG_SECRET\"}}");

        Assert.Equal("master_key_required", put.Body.GetProperty("code").GetString());
        Assert.Contains("KHEISH_AUTH_STORE_MASTER_KEY", put.Body.GetProperty("detail").GetString());
        Assert.True(byEnv.Status == HttpStatusCode.OK, byEnv.Text);
        string file = File.ReadAllText(Path.Combine(h.Dir.StateRoot, "connectors.json"));
        Assert.Contains("\"tg2\"", file);
        Assert.DoesNotContain("\"tg\"", file);
    }

    [Theory]
    [InlineData("nope", "x", "{}", "invalid_connector_kind")]
    [InlineData("http", "Bad.Name", "{}", "invalid_connector_name")]
    [InlineData("http", "h", "{\"command\":\"/bin/true\"}", "field_not_allowed")]
    [InlineData("slack", "s", "{}", "missing_field")]
    [InlineData("slack", "s", "{\"signing_secret\":{\"env\":\"A\",\"value\":\"b\"}}", "invalid_secret_field")]
    [InlineData("slack", "s", "{\"signing_secret\":{\"secret_ref\":\"no.such.slot\"}}", "secret_ref_not_found")]
    [InlineData("slack", "s", "{\"signing_secret\":{\"env\":\"A\"},\"surprise\":1}", "invalid_body")]
    [InlineData("external", "e", "{\"args\":[]}", "missing_field")]
    [InlineData("external", "e", "{\"command\":\"/bin/true\",\"env\":{\"KHEISH_DAEMON_URL\":\"x\"}}", "invalid_env")]
    [InlineData("external", "e", "{\"command\":\"/bin/true\",\"env_keys\":{\"lower\":{\"env\":\"A\"}}}", "invalid_env_key")]
    [InlineData("external", "e", "{\"command\":\"/bin/true\",\"cwd\":\"relative\"}", "invalid_cwd")]
    public async Task Bad_definitions_are_refused_with_a_precise_code_and_change_nothing(string kind, string name, string json, string code)
    {
        await using ConnectorHarness h = await ConnectorHarness.StartAsync();

        var put = await h.PutAsync(kind, name, json);

        Assert.Equal(HttpStatusCode.BadRequest, put.Status);
        Assert.Equal(code, put.Body.GetProperty("code").GetString());
        Assert.False(File.Exists(Path.Combine(h.Dir.StateRoot, "connectors.json")));
    }

    [Fact]
    public async Task The_cli_sets_lists_gets_and_deletes_connectors_from_flags_and_toml()
    {
        await using ConnectorHarness h = await ConnectorHarness.StartAsync();
        await h.SetSecretAsync("ext.key", Canary.New("cli"));
        File.WriteAllText(h.Dir.File("ext.toml"), "command = \"/bin/sleep\"\nargs = [\"60\"]\nenabled = false\n[env_keys.API_KEY]\nsecret_ref = \"ext.key\"\n");
        var env = new Dictionary<string, string?> { ["KHEISH_DAEMON_URL"] = h.Daemon.BaseUri.ToString(), ["KHEISH_DAEMON_TOKEN"] = h.Admin };

        CliResult setHttp = await Support.Cli.RunAsync(["runtime", "connectors", "set", "http", "hooks", "-o", "json"], env);
        CliResult setExt = await Support.Cli.RunAsync(["runtime", "connectors", "set", "external", "ext", "--file", h.Dir.File("ext.toml")], env);
        CliResult list = await Support.Cli.RunAsync(["runtime", "connectors", "list"], env);
        CliResult get = await Support.Cli.RunAsync(["runtime", "connectors", "get", "external", "ext", "-o", "json"], env);
        CliResult badKind = await Support.Cli.RunAsync(["runtime", "connectors", "get", "sms", "x"], env);
        CliResult del = await Support.Cli.RunAsync(["runtime", "connectors", "delete", "http", "hooks"], env);
        CliResult gone = await Support.Cli.RunAsync(["runtime", "connectors", "get", "http", "hooks"], env);

        Assert.True(setHttp.ExitCode == 0, setHttp.ToString());
        Assert.StartsWith("kcb_", JsonDocument.Parse(setHttp.Stdout).RootElement.GetProperty("bearer_token").GetString());
        Assert.True(setExt.ExitCode == 0, setExt.ToString());
        Assert.Contains("external/ext", list.Stdout);
        Assert.Contains("http/hooks", list.Stdout);
        JsonElement ext = JsonDocument.Parse(get.Stdout).RootElement;
        Assert.False(ext.GetProperty("enabled").GetBoolean());
        Assert.Equal("disabled", ext.GetProperty("sidecar").GetProperty("state").GetString());
        Assert.Equal("ext.key", ext.GetProperty("env_keys").GetProperty("API_KEY").GetProperty("secret_ref").GetString());
        Assert.Equal(2, badKind.ExitCode);
        Assert.Equal(0, del.ExitCode);
        Assert.Equal(5, gone.ExitCode);
    }
}
