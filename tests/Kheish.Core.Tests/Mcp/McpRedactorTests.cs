using Kheish.Core.Mcp;

namespace Kheish.Core.Tests.Mcp;

public sealed class McpRedactorTests
{
    [Fact]
    public void An_echoed_secret_is_replaced_by_its_slot_marker()
    {
        var (json, slots) = McpRedactor.Redact("""{"text":"token is s3cr3t-value-123 ok"}""", [new RedactionSecret("mcp.x.TOKEN", "s3cr3t-value-123")]);
        Assert.Equal("""{"text":"token is [redacted:mcp.x.TOKEN] ok"}""", json);
        Assert.Equal(["mcp.x.TOKEN"], slots);
    }

    [Fact]
    public void A_secret_with_characters_json_escapes_is_found_in_its_escaped_form()
    {
        string secret = "pa\"ss+wo<rd>";
        string doc = System.Text.Json.JsonSerializer.Serialize(new[] { "x " + secret }, McpTestJson.Default.StringArray);
        var (json, slots) = McpRedactor.Redact(doc, [new RedactionSecret("s", secret)]);
        Assert.DoesNotContain("ss+wo", json.Replace("\\u002B", "+", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.Single(slots);
    }

    [Fact]
    public void The_longest_secret_wins_when_one_contains_another()
    {
        var (json, _) = McpRedactor.Redact("abcdefghij-long", [new RedactionSecret("short", "abcdefghij"), new RedactionSecret("long", "abcdefghij-long")]);
        Assert.Equal("[redacted:long]", json);
    }

    [Fact]
    public void A_document_without_secrets_is_returned_unchanged()
    {
        const string doc = """{"text":"nothing here"}""";
        var (json, slots) = McpRedactor.Redact(doc, [new RedactionSecret("s", "not-present-123")]);
        Assert.Same(doc, json);
        Assert.Empty(slots);
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(string[]))]
internal sealed partial class McpTestJson : System.Text.Json.Serialization.JsonSerializerContext;
