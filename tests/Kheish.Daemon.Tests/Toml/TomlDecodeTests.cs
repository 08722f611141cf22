using System.Text.Json;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Toml;

/// <summary><c>kheish-daemon toml decode</c>: toml-test's decoder interface on the real binary.</summary>
public sealed class TomlDecodeTests
{
    [Test]
    public async Task Valid_toml_on_stdin_becomes_tagged_json_on_stdout()
    {
        CliResult r = await Support.Cli.RunAsync(["toml", "decode"], stdin: "a = 1\n[t]\nd = 1979-05-27\nf = inf\n");

        await Assert.That(r.ExitCode).IsEqualTo(0);
        using JsonDocument doc = JsonDocument.Parse(r.Stdout);
        await Assert.That(doc.RootElement.GetProperty("a").GetProperty("type").GetString()).IsEqualTo("integer");
        await Assert.That(doc.RootElement.GetProperty("a").GetProperty("value").GetString()).IsEqualTo("1");
        await Assert.That(doc.RootElement.GetProperty("t").GetProperty("d").GetProperty("type").GetString()).IsEqualTo("date-local");
        await Assert.That(doc.RootElement.GetProperty("t").GetProperty("f").GetProperty("value").GetString()).IsEqualTo("inf");
    }

    [Test]
    public async Task Invalid_toml_exits_1_with_the_position_on_stderr_and_no_source_text()
    {
        string canary = Canary.New("toml");

        CliResult r = await Support.Cli.RunAsync(["toml", "decode"], stdin: $"ok = 1\nkey = \"{canary}\n");

        await Assert.That(r.ExitCode).IsEqualTo(1);
        await Assert.That(r.Stdout).IsEqualTo(string.Empty);
        await Assert.That(r.Stderr).Contains("line 2, column");
        Canary.AssertAbsent(canary, r.All, "toml decode output");
    }

    [Test]
    public async Task Help_describes_decode_as_a_conformance_tool()
    {
        CliResult r = await Support.Cli.RunAsync("toml", "decode", "--help");

        await Assert.That(r.ExitCode).IsEqualTo(0);
        await Assert.That(r.Stdout).Contains("Conformance tool");
    }
}
