using System.Text.Json;
using Kheish.Core.Crypto;
using Kheish.Core.Secrets;
using Kheish.Core.Storage;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Secrets;

public sealed class SecretsRoundTripTests
{
    private static SlotId Id(string s) => SlotId.Parse(s).Value;

    [Test]
    public async Task Set_list_get_delete_round_trip_through_the_binary()
    {
        using var h = new SecretsHarness();
        await h.SetOk("openai-main", "sk-round-trip");

        CliResult list = await h.Run("list", "--offline", "--output", "json");
        CliResult get = await h.Run("get", "openai-main", "--offline", "--output", "json");
        CliResult delete = await h.Run("delete", "openai-main", "--offline");
        CliResult after = await h.Run("list", "--offline", "--output", "json");

        await Assert.That(list.ExitCode).IsEqualTo(0);
        using var listDoc = JsonDocument.Parse(list.Stdout);
        JsonElement slot = listDoc.RootElement.GetProperty("slots")[0];
        await Assert.That(slot.GetProperty("slot_id").GetString()).IsEqualTo("openai-main");
        await Assert.That(slot.GetProperty("provider").GetString()).IsEqualTo("openai");
        await Assert.That(slot.GetProperty("mode").GetString()).IsEqualTo("api_key");
        await Assert.That(slot.GetProperty("summary").GetString()).IsEqualTo("api_key");
        await Assert.That(slot.GetProperty("updated_at_ms").GetInt64() > 1_600_000_000_000).IsTrue();
        await Assert.That(get.ExitCode).IsEqualTo(0);
        await Assert.That(JsonDocument.Parse(get.Stdout).RootElement.GetProperty("slot_id").GetString()).IsEqualTo("openai-main");
        await Assert.That(delete.ExitCode).IsEqualTo(0);
        await Assert.That(after.Stdout.Trim()).IsEqualTo("{\"slots\":[]}");
    }

    [Test]
    public async Task The_stored_value_is_exactly_the_value_given()
    {
        using var h = new SecretsHarness();

        await h.SetOk("k", "sk-exact value with spaces ");

        await Assert.That(h.LoadStore().Get(Id("k"))!.SecretValue()).IsEqualTo("sk-exact value with spaces ");
    }

    [Test]
    [Arguments("sk-file\n", "sk-file")]
    [Arguments("sk-file\r\n", "sk-file")]
    [Arguments("sk-file\n\n", "sk-file\n")]
    [Arguments("sk-file", "sk-file")]
    public async Task A_file_value_loses_exactly_one_trailing_newline(string contents, string stored)
    {
        using var h = new SecretsHarness();
        File.WriteAllText(h.Dir.File("secret.txt"), contents);

        CliResult r = await h.Run("set", "k", "--provider", "anthropic", "--from-file", h.Dir.File("secret.txt"), "--offline");

        await Assert.That(r.ExitCode).IsEqualTo(0);
        await Assert.That(h.LoadStore().Get(Id("k"))!.SecretValue()).IsEqualTo(stored);
    }

    [Test]
    public async Task A_stdin_value_loses_exactly_one_trailing_newline()
    {
        using var h = new SecretsHarness();

        CliResult r = await h.RunWith(null, "opaque\n\n", "set", "g", "--provider", "generic", "--stdin", "--offline");

        await Assert.That(r.ExitCode).IsEqualTo(0);
        SlotRecord record = h.LoadStore().Get(Id("g"))!;
        await Assert.That(record.Mode).IsEqualTo(SlotMode.OpaqueSecret);
        await Assert.That(record.SecretValue()).IsEqualTo("opaque\n");
    }

    [Test]
    public async Task Value_works_but_warns_that_argv_is_visible()
    {
        using var h = new SecretsHarness();

        CliResult r = await h.Run("set", "k", "--provider", "xai", "--value", "sk-argv", "--offline");

        await Assert.That(r.ExitCode).IsEqualTo(0);
        await Assert.That(r.Stderr).Contains("warning: --value puts the secret in argv");
        await Assert.That(h.LoadStore().Get(Id("k"))!.SecretValue()).IsEqualTo("sk-argv");
    }

    [Test]
    public async Task An_oauth_account_value_is_stored_as_the_state_object()
    {
        using var h = new SecretsHarness();

        // An mcp_oauth slot must be a usable MCP OAuth account (what `mcp oauth login` writes).
        const string state = """
            {"server_name":"linear","access_token":"at","resource":"https://mcp.linear.app/mcp","issuer":"https://mcp.linear.app",
             "authorization_endpoint":"https://mcp.linear.app/authorize","token_endpoint":"https://mcp.linear.app/token","client_id":"c1"}
            """;
        CliResult r = await h.RunWith(null, state, "set", "mcp.oauth.linear", "--provider", "mcp_oauth", "--stdin", "--offline");
        CliResult get = await h.Run("get", "mcp.oauth.linear", "--offline");

        await Assert.That(r.ExitCode).IsEqualTo(0);
        await Assert.That(get.Stdout).Contains("summary:    mcp_oauth_account:linear");
    }

    [Test]
    public async Task An_incomplete_mcp_oauth_state_is_refused_naming_the_member()
    {
        using var h = new SecretsHarness();

        CliResult r = await h.RunWith(null, "{\"server_name\":\"linear\",\"access_token\":\"at\"}", "set", "mcp.oauth.linear", "--provider", "mcp_oauth", "--stdin", "--offline");

        await Assert.That(r.ExitCode).IsNotEqualTo(0);
        await Assert.That(r.Stderr).Contains("state.resource");
    }

    [Test]
    public async Task State_root_is_0700_and_every_file_0600()
    {
        using var h = new SecretsHarness();

        await h.SetOk("k", "sk-modes");

        await Assert.That(File.GetUnixFileMode(h.Root.FullPath)).IsEqualTo(PrivateDirectory.Mode);
        await Assert.That(File.GetUnixFileMode(h.Root.AuthDirectory)).IsEqualTo(PrivateDirectory.Mode);
        await Assert.That(File.GetUnixFileMode(h.SlotsFile)).IsEqualTo(AtomicFile.PrivateFileMode);
        await Assert.That(File.GetUnixFileMode(h.Root.LockFile)).IsEqualTo(AtomicFile.PrivateFileMode);
    }

    [Test]
    public async Task Legacy_plaintext_is_listed_without_a_key_and_encrypted_by_the_next_set()
    {
        using var h = new SecretsHarness();
        Directory.CreateDirectory(h.Root.AuthDirectory);
        File.WriteAllText(h.SlotsFile, """{"slots":{"old":{"slot_id":"old","provider":"google","mode":"api_key","state":{"api_key":"sk-legacy"},"updated_at_ms":7}}}""");

        CliResult list = await h.RunWith([], null, "list", "--offline", "--output", "json");
        await h.SetOk("new", "sk-new");

        await Assert.That(list.ExitCode).IsEqualTo(0);
        await Assert.That(list.Stdout).Contains("\"slot_id\":\"old\"");
        await Assert.That(EnvelopeCodec.IsEnvelope(h.SlotsBytes())).IsTrue();
        await Assert.That(h.LoadStore().Get(Id("old"))!.SecretValue()).IsEqualTo("sk-legacy");
        await Assert.That(h.LoadStore().Get(Id("new"))!.SecretValue()).IsEqualTo("sk-new");
    }

    [Test]
    public async Task The_key_can_come_from_a_file()
    {
        using var h = new SecretsHarness();
        File.WriteAllText(h.Dir.File("master.key"), Convert.ToBase64String(h.Key.Bytes) + "\n");
        var env = new Dictionary<string, string?> { [MasterKey.FileVariable] = h.Dir.File("master.key"), ["V"] = "sk-from-file-key" };

        CliResult r = await h.RunWith(env, null, "set", "k", "--provider", "openai", "--from-env", "V", "--offline");

        await Assert.That(r.ExitCode).IsEqualTo(0);
        await Assert.That(h.LoadStore().Get(Id("k"))!.SecretValue()).IsEqualTo("sk-from-file-key");
    }

    [Test]
    public async Task Generate_json_prints_the_key_and_its_id()
    {
        CliResult r = await Support.Cli.RunAsync("secrets", "generate", "--output", "json");

        using var doc = JsonDocument.Parse(r.Stdout);
        byte[] key = Convert.FromBase64String(doc.RootElement.GetProperty("master_key").GetString()!);
        await Assert.That(doc.RootElement.GetProperty("key_id").GetString()).IsEqualTo(MasterKey.FromBytes(key).KeyId);
    }
}
