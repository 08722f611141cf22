using FsCheck;
using FsCheck.Fluent;
using Kheish.Core.Secrets;

namespace Kheish.Core.Tests.Secrets;

public sealed class SlotIdTests
{
    [Theory]
    [InlineData("openai-main")]
    [InlineData("mcp.linear.LINEAR_API_KEY")]
    [InlineData("mcp.oauth.github:work")]
    [InlineData("a")]
    public void Valid_ids_parse(string id)
    {
        Assert.Equal(id, SlotId.Parse(id).Value.Value);
    }

    [Theory]
    [InlineData("", "must not be empty")]
    [InlineData("a/b", "a path separator '/' at position 2")]
    [InlineData("a\\b", "a path separator '\\' at position 2")]
    [InlineData("a\nb", "a control character (U+000A) at position 2")]
    [InlineData("a b", "whitespace (U+0020) at position 2")]
    [InlineData("é", "a non-ASCII character (U+00E9) at position 1")]
    [InlineData(".hidden", "must not start with '.'")]
    [InlineData("a..b", "must not contain \"..\"")]
    public void Invalid_ids_get_a_precise_message(string id, string expected)
    {
        var error = SlotId.Parse(id).Error!;

        Assert.Equal("invalid_slot_id", error.Code);
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void Ids_longer_than_128_characters_are_rejected()
    {
        Assert.True(SlotId.Parse(new string('a', 128)).IsOk);
        Assert.Contains("at most 128 characters; this one has 129", SlotId.Parse(new string('a', 129)).Error!.Message);
    }

    [Fact]
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
