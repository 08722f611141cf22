using System.Text.Json;
using Kheish.Core.Secrets;

namespace Kheish.Core.Tests.Secrets;

public sealed class SlotRecordTests
{
    private static SlotId Id(string s) => SlotId.Parse(s).Value;

    [Fact]
    public void An_api_key_slot_keeps_its_value_under_state_api_key()
    {
        var record = SlotRecord.WithSecret(Id("k"), SlotProvider.OpenAi, SlotMode.ApiKey, "sk-1", 5);

        Assert.Equal("sk-1", record.State.GetProperty("api_key").GetString());
        Assert.Equal("sk-1", record.SecretValue());
    }

    [Fact]
    public void An_opaque_slot_keeps_its_value_under_state_value()
    {
        var record = SlotRecord.WithSecret(Id("k"), SlotProvider.Generic, SlotMode.OpaqueSecret, "v", 5);

        Assert.Equal("v", record.State.GetProperty("value").GetString());
        Assert.Equal("v", record.SecretValue());
    }

    [Fact]
    public void ToString_never_shows_the_state()
    {
        var record = SlotRecord.WithSecret(Id("k"), SlotProvider.OpenAi, SlotMode.ApiKey, "sk-secret-canary", 5);

        Assert.DoesNotContain("sk-secret-canary", record.ToString());
    }

    [Theory]
    [InlineData("generic", "api_key", "provider generic takes mode opaque_secret, not api_key")]
    [InlineData("openai", "opaque_secret", "provider openai takes mode api_key or oauth_account, not opaque_secret")]
    public void Mismatched_provider_and_mode_are_rejected(string provider, string mode, string expected)
    {
        using var doc = JsonDocument.Parse("{\"api_key\":\"x\",\"value\":\"x\"}");
        var record = new SlotRecord(Id("k"), SlotNames.ParseProvider(provider)!.Value, SlotNames.ParseMode(mode)!.Value, doc.RootElement.Clone(), 0);

        Assert.Contains(expected, record.Validate()!.Message);
    }

    [Fact]
    public void An_api_key_slot_without_a_string_api_key_is_rejected()
    {
        using var doc = JsonDocument.Parse("{\"value\":\"x\"}");
        var record = new SlotRecord(Id("k"), SlotProvider.Anthropic, SlotMode.ApiKey, doc.RootElement.Clone(), 0);

        Assert.Equal("invalid_slot_state", record.Validate()!.Code);
    }

    [Fact]
    public void Status_of_an_mcp_oauth_account_shows_metadata_and_never_tokens()
    {
        using var doc = JsonDocument.Parse("""
            {"server_name":"linear","issuer":"https://auth.example","scopes":["read","write"],
             "access_token":"at-canary","refresh_token":"rt-canary","client_secret":"cs-canary","expires_at_ms":123}
            """);
        var record = new SlotRecord(Id("mcp.oauth.linear"), SlotProvider.McpOauth, SlotMode.OauthAccount, doc.RootElement.Clone(), 9);

        SlotStatus status = record.ToStatus();
        string json = JsonSerializer.Serialize(status, SecretsJsonContext.Default.SlotStatus);

        Assert.Equal("mcp_oauth_account:linear", status.Summary);
        Assert.Equal("read write", status.Details!["scopes"]);
        Assert.Equal("123", status.Details["expires_at_ms"]);
        Assert.DoesNotContain("canary", json);
    }

    [Theory]
    [InlineData("generic", "opaque_secret", "opaque_secret")]
    [InlineData("xai", "api_key", "api_key")]
    public void Status_summaries_follow_the_reference(string provider, string mode, string summary)
    {
        var record = SlotRecord.WithSecret(Id("k"), SlotNames.ParseProvider(provider)!.Value, SlotNames.ParseMode(mode)!.Value, "v", 0);

        Assert.Equal(summary, record.ToStatus().Summary);
        Assert.Null(record.ToStatus().Details);
    }
}
