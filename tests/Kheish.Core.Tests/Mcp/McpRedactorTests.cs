using Kheish.Core.Mcp;

namespace Kheish.Core.Tests.Mcp;

public sealed class McpRedactorTests
{
    [Test]
    public async Task An_echoed_secret_is_replaced_by_its_slot_marker()
    {
        var (json, slots) = McpRedactor.Redact("""{"text":"token is s3cr3t-value-123 ok"}""", [new RedactionSecret("mcp.x.TOKEN", "s3cr3t-value-123")]);
        await Assert.That(json).IsEqualTo("""{"text":"token is [redacted:mcp.x.TOKEN] ok"}""");
        await Assert.That(slots).IsEquivalentTo(["mcp.x.TOKEN"], CollectionOrdering.Matching);
    }

    [Test]
    public async Task A_secret_with_characters_json_escapes_is_found_in_its_escaped_form()
    {
        string secret = "pa\"ss+wo<rd>";
        string doc = System.Text.Json.JsonSerializer.Serialize(new[] { "x " + secret }, McpTestJson.Default.StringArray);
        var (json, slots) = McpRedactor.Redact(doc, [new RedactionSecret("s", secret)]);
        await Assert.That(json).IsEqualTo("[\"x [redacted:s]\"]");
        await Assert.That(slots.Count).IsEqualTo(1);
    }

    [Test]
    public async Task The_longest_secret_wins_when_one_contains_another()
    {
        var (json, _) = McpRedactor.Redact("abcdefghij-long", [new RedactionSecret("short", "abcdefghij"), new RedactionSecret("long", "abcdefghij-long")]);
        await Assert.That(json).IsEqualTo("[redacted:long]");
    }

    [Test]
    public async Task A_document_without_secrets_is_returned_unchanged()
    {
        const string doc = """{"text":"nothing here"}""";
        var (json, slots) = McpRedactor.Redact(doc, [new RedactionSecret("s", "not-present-123")]);
        await Assert.That(json).IsEqualTo(doc);
        await Assert.That(slots.Count).IsEqualTo(0);
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(string[]))]
internal sealed partial class McpTestJson : System.Text.Json.Serialization.JsonSerializerContext;
