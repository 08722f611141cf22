using System.Text.Json;
using Kheish.Core.Crypto;
using Kheish.Core.Secrets;
using Kheish.Core.Storage;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Secrets;

public sealed class SecretsRoundTripTests
{
    private static SlotId Id(string s) => SlotId.Parse(s).Value;

    [Fact]
    public async Task Set_list_get_delete_round_trip_through_the_binary()
    {
        using var h = new SecretsHarness();
        await h.SetOk("openai-main", "sk-round-trip");

        CliResult list = await h.Run("list", "--offline", "--output", "json");
        CliResult get = await h.Run("get", "openai-main", "--offline", "--output", "json");
        CliResult delete = await h.Run("delete", "openai-main", "--offline");
        CliResult after = await h.Run("list", "--offline", "--output", "json");

        Assert.Equal(0, list.ExitCode);
        using var listDoc = JsonDocument.Parse(list.Stdout);
        JsonElement slot = listDoc.RootElement.GetProperty("slots")[0];
        Assert.Equal("openai-main", slot.GetProperty("slot_id").GetString());
        Assert.Equal("openai", slot.GetProperty("provider").GetString());
        Assert.Equal("api_key", slot.GetProperty("mode").GetString());
        Assert.Equal("api_key", slot.GetProperty("summary").GetString());
        Assert.True(slot.GetProperty("updated_at_ms").GetInt64() > 1_600_000_000_000);
        Assert.Equal(0, get.ExitCode);
        Assert.Equal("openai-main", JsonDocument.Parse(get.Stdout).RootElement.GetProperty("slot_id").GetString());
        Assert.Equal(0, delete.ExitCode);
        Assert.Equal("{\"slots\":[]}", after.Stdout.Trim());
    }

    [Fact]
    public async Task The_stored_value_is_exactly_the_value_given()
    {
        using var h = new SecretsHarness();

        await h.SetOk("k", "sk-exact value with spaces ");

        Assert.Equal("sk-exact value with spaces ", h.LoadStore().Get(Id("k"))!.SecretValue());
    }

    [Theory]
    [InlineData("sk-file\n", "sk-file")]
    [InlineData("sk-file\r\n", "sk-file")]
    [InlineData("sk-file\n\n", "sk-file\n")]
    [InlineData("sk-file", "sk-file")]
    public async Task A_file_value_loses_exactly_one_trailing_newline(string contents, string stored)
    {
        using var h = new SecretsHarness();
        File.WriteAllText(h.Dir.File("secret.txt"), contents);

        CliResult r = await h.Run("set", "k", "--provider", "anthropic", "--from-file", h.Dir.File("secret.txt"), "--offline");

        Assert.Equal(0, r.ExitCode);
        Assert.Equal(stored, h.LoadStore().Get(Id("k"))!.SecretValue());
    }

    [Fact]
    public async Task A_stdin_value_loses_exactly_one_trailing_newline()
    {
        using var h = new SecretsHarness();

        CliResult r = await h.RunWith(null, "opaque\n\n", "set", "g", "--provider", "generic", "--stdin", "--offline");

        Assert.Equal(0, r.ExitCode);
        SlotRecord record = h.LoadStore().Get(Id("g"))!;
        Assert.Equal(SlotMode.OpaqueSecret, record.Mode);
        Assert.Equal("opaque\n", record.SecretValue());
    }

    [Fact]
    public async Task Value_works_but_warns_that_argv_is_visible()
    {
        using var h = new SecretsHarness();

        CliResult r = await h.Run("set", "k", "--provider", "xai", "--value", "sk-argv", "--offline");

        Assert.Equal(0, r.ExitCode);
        Assert.Contains("warning: --value puts the secret in argv", r.Stderr);
        Assert.Equal("sk-argv", h.LoadStore().Get(Id("k"))!.SecretValue());
    }

    [Fact]
    public async Task An_oauth_account_value_is_stored_as_the_state_object()
    {
        using var h = new SecretsHarness();

        CliResult r = await h.RunWith(null, "{\"server_name\":\"linear\",\"access_token\":\"at\"}", "set", "mcp.oauth.linear", "--provider", "mcp_oauth", "--stdin", "--offline");
        CliResult get = await h.Run("get", "mcp.oauth.linear", "--offline");

        Assert.Equal(0, r.ExitCode);
        Assert.Contains("summary:    mcp_oauth_account:linear", get.Stdout);
    }

    [Fact]
    public async Task State_root_is_0700_and_every_file_0600()
    {
        using var h = new SecretsHarness();

        await h.SetOk("k", "sk-modes");

        Assert.Equal(PrivateDirectory.Mode, File.GetUnixFileMode(h.Root.FullPath));
        Assert.Equal(PrivateDirectory.Mode, File.GetUnixFileMode(h.Root.AuthDirectory));
        Assert.Equal(AtomicFile.PrivateFileMode, File.GetUnixFileMode(h.SlotsFile));
        Assert.Equal(AtomicFile.PrivateFileMode, File.GetUnixFileMode(h.Root.LockFile));
    }

    [Fact]
    public async Task Legacy_plaintext_is_listed_without_a_key_and_encrypted_by_the_next_set()
    {
        using var h = new SecretsHarness();
        Directory.CreateDirectory(h.Root.AuthDirectory);
        File.WriteAllText(h.SlotsFile, """{"slots":{"old":{"slot_id":"old","provider":"google","mode":"api_key","state":{"api_key":"sk-legacy"},"updated_at_ms":7}}}""");

        CliResult list = await h.RunWith([], null, "list", "--offline", "--output", "json");
        await h.SetOk("new", "sk-new");

        Assert.Equal(0, list.ExitCode);
        Assert.Contains("\"slot_id\":\"old\"", list.Stdout);
        Assert.True(EnvelopeCodec.IsEnvelope(h.SlotsBytes()));
        Assert.Equal("sk-legacy", h.LoadStore().Get(Id("old"))!.SecretValue());
        Assert.Equal("sk-new", h.LoadStore().Get(Id("new"))!.SecretValue());
    }

    [Fact]
    public async Task The_key_can_come_from_a_file()
    {
        using var h = new SecretsHarness();
        File.WriteAllText(h.Dir.File("master.key"), Convert.ToBase64String(h.Key.Bytes) + "\n");
        var env = new Dictionary<string, string?> { [MasterKey.FileVariable] = h.Dir.File("master.key"), ["V"] = "sk-from-file-key" };

        CliResult r = await h.RunWith(env, null, "set", "k", "--provider", "openai", "--from-env", "V", "--offline");

        Assert.Equal(0, r.ExitCode);
        Assert.Equal("sk-from-file-key", h.LoadStore().Get(Id("k"))!.SecretValue());
    }

    [Fact]
    public async Task Generate_json_prints_the_key_and_its_id()
    {
        CliResult r = await Support.Cli.RunAsync("secrets", "generate", "--output", "json");

        using var doc = JsonDocument.Parse(r.Stdout);
        byte[] key = Convert.FromBase64String(doc.RootElement.GetProperty("master_key").GetString()!);
        Assert.Equal(MasterKey.FromBytes(key).KeyId, doc.RootElement.GetProperty("key_id").GetString());
    }
}
