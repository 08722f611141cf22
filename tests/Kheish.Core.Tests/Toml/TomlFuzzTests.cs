using Kheish.Core.Toml;

namespace Kheish.Core.Tests.Toml;

/// <summary>Mutated documents: the reader must answer (a table or a TomlError), never throw anything else.</summary>
public sealed class TomlFuzzTests
{
    private const string Sample = """
        # sample
        title = "TOML \"example\" \u00e9"
        [owner]
        name = 'Tom'
        dob = 1979-05-27T07:32:00-08:00
        [database]
        ports = [ 8000, 8001, 0x1f, 0o7, 0b1, 1_000 ]
        data = [ ["delta", "phi"], [3.14, -inf, nan, 1e-3] ]
        temp = { cpu = 79.5, case = 72.0, when = 07:32:00.25, day = 1979-05-27 }
        [servers.alpha]
        ip = "10.0.0.1"
        a.b.c = true
        [[products]]
        text = \"\"\"
        multi \
          line ""quoted""\"\"\"
        raw = '''
        raw 'text' '''
        [[products]]
        local = 1979-05-27 00:32:00.999999
        """;

    private static readonly char[] Alphabet = "[]{}=,.\"'#\\\n\r\t 0123456789+-_:eExobTZznaif\u00e9\u0000\u007f\uD83D\uDE00".ToCharArray();

    [Test]
    public async Task Random_mutations_of_a_document_never_escape_as_exceptions()
    {
        var random = new Random(20251125);
        string sample = Sample.Replace("\\\"\\\"\\\"", "\"\"\"", StringComparison.Ordinal);
        await Assert.That(TomlReader.TryParse(sample, out _, out TomlError? sampleError)).IsTrue();
        for (int n = 0; n < 30_000; n++)
        {
            var chars = new List<char>(sample);
            int edits = 1 + random.Next(4);
            for (int e = 0; e < edits && chars.Count > 0; e++)
            {
                int at = random.Next(chars.Count);
                switch (random.Next(3))
                {
                    case 0:
                        chars.Insert(at, Alphabet[random.Next(Alphabet.Length)]);
                        break;
                    case 1:
                        chars.RemoveAt(at);
                        break;
                    default:
                        chars[at] = Alphabet[random.Next(Alphabet.Length)];
                        break;
                }
            }

            string text = new(chars.ToArray());
            try
            {
                bool ok = TomlReader.TryParse(text, out TomlTable? table, out TomlError? error);
                await Assert.That(ok ? table is not null : error is { Line: > 0, Column: > 0 }).IsTrue();
                if (ok)
                {
                    TomlTaggedJson.ToJson(table!);
                }
            }
            catch (Exception ex) when (ex is not TUnit.Assertions.Exceptions.AssertionException)
            {
                Assert.Fail($"mutation {n} threw {ex.GetType().Name}: {ex.Message}\n--- input ---\n{text}");
            }
        }
    }
}
