using System.Text;
using System.Text.Json;

namespace Kheish.Core.Mcp;

/// <summary>A secret to scrub from what reaches an agent, with the slot it came from.</summary>
internal sealed record RedactionSecret(string SlotId, string Value)
{
    public override string ToString() => $"RedactionSecret {{ SlotId = {SlotId}, Value = <redacted> }}";
}

/// <summary>
/// Secret echo protection: replaces every occurrence of a secret in a JSON document (a tool
/// result, prompt or resource as the agent would receive it) with <c>[redacted:&lt;slot_id&gt;]</c>.
/// Works on the serialized text, so strings anywhere in the document are covered, in their raw
/// and JSON-escaped spellings. Longest secrets first, so a secret containing another is
/// replaced whole.
/// </summary>
internal static class McpRedactor
{
    /// <summary>Stored slot values shorter than this are too likely to occur by chance to scrub.</summary>
    public const int MinStoredLength = 8;

    public static string Marker(string slotId) => "[redacted:" + slotId + "]";

    /// <summary>The redacted document and the slot ids that were found (empty when nothing matched).</summary>
    public static (string Json, IReadOnlyList<string> Slots) Redact(string json, IEnumerable<RedactionSecret> secrets)
    {
        var found = new List<string>();
        var sb = new StringBuilder(json);
        foreach (RedactionSecret s in secrets.Where(s => s.Value.Length > 0).DistinctBy(s => s.Value).OrderByDescending(s => s.Value.Length))
        {
            bool hit = false;
            foreach (string spelling in Spellings(s.Value))
            {
                string current = sb.ToString();
                if (current.Contains(spelling, StringComparison.Ordinal))
                {
                    sb.Replace(spelling, Marker(s.SlotId));
                    hit = true;
                }
            }

            if (hit)
            {
                found.Add(s.SlotId);
            }
        }

        return (found.Count == 0 ? json : sb.ToString(), found);
    }

    private static IEnumerable<string> Spellings(string value)
    {
        // How a serializer may have written it: default escaping, relaxed escaping, or raw.
        return new[]
        {
            JsonEncodedText.Encode(value).Value,
            JsonEncodedText.Encode(value, System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping).Value,
            value,
        }.Distinct(StringComparer.Ordinal);
    }
}
