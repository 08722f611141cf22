using System.Net;
using System.Text;
using System.Text.Json;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Connectors;

/// <summary>Connector definitions: write-only secret fields, the state file, bad input, slot references, the CLI.</summary>
public sealed class DefinitionTests
{
    [Test]
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

        await Assert.That(put.Status == HttpStatusCode.OK).IsTrue().Because(put.Text);
        JsonElement signing = get.Body.GetProperty("signing_secret");
        await Assert.That(string.Join(",", signing.EnumerateObject().Select(p => p.Name))).IsEqualTo("configured,source,secret_ref");
        await Assert.That(signing.GetProperty("source").GetString()).IsEqualTo("inline");
        await Assert.That(signing.GetProperty("secret_ref").GetString()).IsEqualTo("connectors.team.SIGNING_SECRET");
        await Assert.That(get.Body.GetProperty("bot_token").GetProperty("source").GetString()).IsEqualTo("env");
        await Assert.That(get.Body.GetProperty("bot_token").GetProperty("env").GetString()).IsEqualTo("SLACK_BOT");
        await Assert.That(list.Body.GetProperty("connectors").GetArrayLength()).IsEqualTo(1);
        await Assert.That(slot.Status).IsEqualTo(HttpStatusCode.OK);
        await Assert.That(deleteSlot.Status).IsEqualTo(HttpStatusCode.Conflict);
        await Assert.That(deleteSlot.Body.GetProperty("detail").GetString()).Contains("slack/team");
        await Assert.That(Encoding.UTF8.GetString(file)).Contains("\"key_id\"");
        await Assert.That(Encoding.UTF8.GetString(file)).DoesNotContain("signing_secret");
        await Assert.That(mode).IsEqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite);

        var delete = await h.SendAsync(HttpMethod.Delete, "/v1/runtime/connectors/slack/team", bearer: h.Admin);
        var slotAfter = await h.SendAsync(HttpMethod.Get, "/v1/runtime/secrets/connectors.team.SIGNING_SECRET", bearer: h.Admin);
        await Assert.That(delete.Status).IsEqualTo(HttpStatusCode.OK);
        await Assert.That(slotAfter.Status).IsEqualTo(HttpStatusCode.NotFound);
        await h.StopAndAssertNoLeakAsync(secret);
    }

    [Test]
    public async Task Without_a_master_key_an_inline_value_is_refused_and_nothing_is_written()
    {
        await using ConnectorHarness h = await ConnectorHarness.StartAsync(masterKey: false);

        var put = await h.PutAsync("telegram", "tg", "{\"secret_token\":{\"value\":\"s3cr3t-value\"}}");
        var byEnv = await h.PutAsync("telegram", "tg2", "{\"secret_token\":{\"env\":\"TG_SECRET\"}}");

        await Assert.That(put.Body.GetProperty("code").GetString()).IsEqualTo("master_key_required");
        await Assert.That(put.Body.GetProperty("detail").GetString()).Contains("KHEISH_AUTH_STORE_MASTER_KEY");
        await Assert.That(byEnv.Status == HttpStatusCode.OK).IsTrue().Because(byEnv.Text);
        string file = File.ReadAllText(Path.Combine(h.Dir.StateRoot, "connectors.json"));
        await Assert.That(file).Contains("\"tg2\"");
        await Assert.That(file).DoesNotContain("\"tg\"");
    }

    [Test]
    [Arguments("nope", "x", "{}", "invalid_connector_kind")]
    [Arguments("http", "Bad.Name", "{}", "invalid_connector_name")]
    [Arguments("http", "h", "{\"command\":\"/bin/true\"}", "field_not_allowed")]
    [Arguments("slack", "s", "{}", "missing_field")]
    [Arguments("slack", "s", "{\"signing_secret\":{\"env\":\"A\",\"value\":\"b\"}}", "invalid_secret_field")]
    [Arguments("slack", "s", "{\"signing_secret\":{\"secret_ref\":\"no.such.slot\"}}", "secret_ref_not_found")]
    [Arguments("slack", "s", "{\"signing_secret\":{\"env\":\"A\"},\"surprise\":1}", "invalid_body")]
    [Arguments("external", "e", "{\"args\":[]}", "missing_field")]
    [Arguments("external", "e", "{\"command\":\"/bin/true\",\"env\":{\"KHEISH_DAEMON_URL\":\"x\"}}", "invalid_env")]
    [Arguments("external", "e", "{\"command\":\"/bin/true\",\"env_keys\":{\"lower\":{\"env\":\"A\"}}}", "invalid_env_key")]
    [Arguments("external", "e", "{\"command\":\"/bin/true\",\"cwd\":\"relative\"}", "invalid_cwd")]
    public async Task Bad_definitions_are_refused_with_a_precise_code_and_change_nothing(string kind, string name, string json, string code)
    {
        await using ConnectorHarness h = await ConnectorHarness.StartAsync();

        var put = await h.PutAsync(kind, name, json);

        await Assert.That(put.Status).IsEqualTo(HttpStatusCode.BadRequest);
        await Assert.That(put.Body.GetProperty("code").GetString()).IsEqualTo(code);
        await Assert.That(File.Exists(Path.Combine(h.Dir.StateRoot, "connectors.json"))).IsFalse();
    }

    [Test]
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

        await Assert.That(setHttp.ExitCode == 0).IsTrue().Because(setHttp.ToString());
        await Assert.That(JsonDocument.Parse(setHttp.Stdout).RootElement.GetProperty("bearer_token").GetString()).StartsWith("kcb_");
        await Assert.That(setExt.ExitCode == 0).IsTrue().Because(setExt.ToString());
        await Assert.That(list.Stdout).Contains("external/ext");
        await Assert.That(list.Stdout).Contains("http/hooks");
        JsonElement ext = JsonDocument.Parse(get.Stdout).RootElement;
        await Assert.That(ext.GetProperty("enabled").GetBoolean()).IsFalse();
        await Assert.That(ext.GetProperty("sidecar").GetProperty("state").GetString()).IsEqualTo("disabled");
        await Assert.That(ext.GetProperty("env_keys").GetProperty("API_KEY").GetProperty("secret_ref").GetString()).IsEqualTo("ext.key");
        await Assert.That(badKind.ExitCode).IsEqualTo(2);
        await Assert.That(del.ExitCode).IsEqualTo(0);
        await Assert.That(gone.ExitCode).IsEqualTo(5);
    }
}
