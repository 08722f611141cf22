using Kheish.Core.Text;

namespace Kheish.Core.Tests.Text;

public sealed class ControlCharactersTests
{
    [Test]
    public async Task Every_char_alone_and_inside_text_is_a_control_exactly_when_char_IsControl_says_so()
    {
        var disagree = new List<int>();
        for (int c = 0; c <= char.MaxValue; c++)
        {
            char ch = (char)c;
            // Alone, and at the end of a run long enough for the vectorized search to take it.
            if (ControlCharacters.In([ch]) != char.IsControl(ch)
                || ControlCharacters.In("a-plain-ascii-prefix-of-forty-characters" + ch) != char.IsControl(ch))
            {
                disagree.Add(c);
            }
        }

        await Assert.That(disagree).IsEmpty();
    }

    [Test]
    public async Task Text_without_controls_has_none()
    {
        await Assert.That(ControlCharacters.In("")).IsFalse();
        await Assert.That(ControlCharacters.In("grant-0123456789 ünïcode \U0001F600")).IsFalse();
    }
}
