using System.Text.Json;
using Kheish.Core.Secrets;

namespace Kheish.Core.Tests.Secrets;

public sealed class SlotRecordTests
{
    private static SlotId Id(string s) => SlotId.Parse(s).Value;

    [Test]
    public async Task An_api_key_slot_keeps_its_value_under_state_api_key()
    {
        var record = SlotRecord.WithSecret(Id("k"), SlotProvider.OpenAi, SlotMode.ApiKey, "sk-1", 5);

        await Assert.That(record.State.GetProperty("api_key").GetString()).IsEqualTo("sk-1");
        await Assert.That(record.SecretValue()).IsEqualTo("sk-1");
    }

    [Test]
    public async Task An_opaque_slot_keeps_its_value_under_state_value()
    {
        var record = SlotRecord.WithSecret(Id("k"), SlotProvider.Generic, SlotMode.OpaqueSecret, "v", 5);

        await Assert.That(record.State.GetProperty("value").GetString()).IsEqualTo("v");
        await Assert.That(record.SecretValue()).IsEqualTo("v");
    }

    [Test]
    public async Task ToString_never_shows_the_state()
    {
        var record = SlotRecord.WithSecret(Id("k"), SlotProvider.OpenAi, SlotMode.ApiKey, "sk-secret-canary", 5);

        await Assert.That(record.ToString()).DoesNotContain("sk-secret-canary");
    }

    [Test]
    [Arguments("generic", "api_key", "provider generic takes mode opaque_secret, not api_key")]
    [Arguments("openai", "opaque_secret", "provider openai takes mode api_key or oauth_account, not opaque_secret")]
    public async Task Mismatched_provider_and_mode_are_rejected(string provider, string mode, string expected)
    {
        using var doc = JsonDocument.Parse("{\"api_key\":\"x\",\"value\":\"x\"}");
        var record = new SlotRecord(Id("k"), SlotNames.ParseProvider(provider)!.Value, SlotNames.ParseMode(mode)!.Value, doc.RootElement.Clone(), 0);

        await Assert.That(record.Validate()!.Message).Contains(expected);
    }

    [Test]
    public async Task An_api_key_slot_without_a_string_api_key_is_rejected()
    {
        using var doc = JsonDocument.Parse("{\"value\":\"x\"}");
        var record = new SlotRecord(Id("k"), SlotProvider.Anthropic, SlotMode.ApiKey, doc.RootElement.Clone(), 0);

        await Assert.That(record.Validate()!.Code).IsEqualTo("invalid_slot_state");
    }

    [Test]
    public async Task Status_of_an_mcp_oauth_account_shows_metadata_and_never_tokens()
    {
        using var doc = JsonDocument.Parse("""
            {"server_name":"linear","issuer":"https://auth.example","scopes":["read","write"],
             "access_token":"at-canary","refresh_token":"rt-canary","client_secret":"cs-canary","expires_at_ms":123}
            """);
        var record = new SlotRecord(Id("mcp.oauth.linear"), SlotProvider.McpOauth, SlotMode.OauthAccount, doc.RootElement.Clone(), 9);

        SlotStatus status = record.ToStatus();
        string json = JsonSerializer.Serialize(status, SecretsJsonContext.Default.SlotStatus);

        await Assert.That(status.Summary).IsEqualTo("mcp_oauth_account:linear");
        await Assert.That(status.Details!["scopes"]).IsEqualTo("read write");
        await Assert.That(status.Details["expires_at_ms"]).IsEqualTo("123");
        await Assert.That(json).DoesNotContain("canary");
    }

    [Test]
    [Arguments("generic", "opaque_secret", "opaque_secret")]
    [Arguments("xai", "api_key", "api_key")]
    public async Task Status_summaries_follow_the_reference(string provider, string mode, string summary)
    {
        var record = SlotRecord.WithSecret(Id("k"), SlotNames.ParseProvider(provider)!.Value, SlotNames.ParseMode(mode)!.Value, "v", 0);

        await Assert.That(record.ToStatus().Summary).IsEqualTo(summary);
        await Assert.That(record.ToStatus().Details).IsNull();
    }
}
