using FsCheck;
using FsCheck.Fluent;
using Kheish.Core.Secrets;

namespace Kheish.Core.Tests.Secrets;

public sealed class SlotIdTests
{
    [Test]
    [Arguments("openai-main")]
    [Arguments("mcp.linear.LINEAR_API_KEY")]
    [Arguments("mcp.oauth.github:work")]
    [Arguments("a")]
    public async Task Valid_ids_parse(string id)
    {
        await Assert.That(SlotId.Parse(id).Value.Value).IsEqualTo(id);
    }

    [Test]
    [Arguments("", "must not be empty")]
    [Arguments("a/b", "a path separator '/' at position 2")]
    [Arguments("a\\b", "a path separator '\\' at position 2")]
    [Arguments("a\nb", "a control character (U+000A) at position 2")]
    [Arguments("a b", "whitespace (U+0020) at position 2")]
    [Arguments("é", "a non-ASCII character (U+00E9) at position 1")]
    [Arguments(".hidden", "must not start with '.'")]
    [Arguments("a..b", "must not contain \"..\"")]
    public async Task Invalid_ids_get_a_precise_message(string id, string expected)
    {
        var error = SlotId.Parse(id).Error!;

        await Assert.That(error.Code).IsEqualTo("invalid_slot_id");
        await Assert.That(error.Message).Contains(expected);
    }

    [Test]
    public async Task Ids_longer_than_128_characters_are_rejected()
    {
        await Assert.That(SlotId.Parse(new string('a', 128)).IsOk).IsTrue();
        await Assert.That(SlotId.Parse(new string('a', 129)).Error!.Message).Contains("at most 128 characters; this one has 129");
    }

    [Test]
    public void No_accepted_id_can_escape_a_directory_or_hold_a_control_character()
    {
        // Biased toward the characters that matter, so valid and invalid ids both occur often.
        Arbitrary<string> ids = Arb.From(Gen.ArrayOf(Gen.Elements('a', 'Z', '0', '.', '_', ':', '-', '/', '\\', ' ', '\n', '\u00e9'))
            .Select(chars => new string(chars)));
        Prop.ForAll(ids, s =>
        {
            var parsed = SlotId.Parse(s);
            return !parsed.IsOk || (parsed.Value.Value == s
                && !s.Contains('/') && !s.Contains('\\') && !s.Contains("..")
                && !s.StartsWith('.') && !s.Any(char.IsControl) && s.Length is > 0 and <= 128);
        }).QuickCheckThrowOnFailure();
    }
}
