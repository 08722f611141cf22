using System.Text.Json;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Toml;

/// <summary><c>kheish-daemon toml decode</c>: toml-test's decoder interface on the real binary.</summary>
public sealed class TomlDecodeTests
{
    [Fact]
    public async Task Valid_toml_on_stdin_becomes_tagged_json_on_stdout()
    {
        CliResult r = await Support.Cli.RunAsync(["toml", "decode"], stdin: "a = 1\n[t]\nd = 1979-05-27\nf = inf\n");

        Assert.Equal(0, r.ExitCode);
        using JsonDocument doc = JsonDocument.Parse(r.Stdout);
        Assert.Equal("integer", doc.RootElement.GetProperty("a").GetProperty("type").GetString());
        Assert.Equal("1", doc.RootElement.GetProperty("a").GetProperty("value").GetString());
        Assert.Equal("date-local", doc.RootElement.GetProperty("t").GetProperty("d").GetProperty("type").GetString());
        Assert.Equal("inf", doc.RootElement.GetProperty("t").GetProperty("f").GetProperty("value").GetString());
    }

    [Fact]
    public async Task Invalid_toml_exits_1_with_the_position_on_stderr_and_no_source_text()
    {
        string canary = Canary.New("toml");

        CliResult r = await Support.Cli.RunAsync(["toml", "decode"], stdin: $"ok = 1\nkey = \"{canary}\n");

        Assert.Equal(1, r.ExitCode);
        Assert.Equal(string.Empty, r.Stdout);
        Assert.Contains("line 2, column", r.Stderr);
        Canary.AssertAbsent(canary, r.All, "toml decode output");
    }

    [Fact]
    public async Task Help_describes_decode_as_a_conformance_tool()
    {
        CliResult r = await Support.Cli.RunAsync("toml", "decode", "--help");

        Assert.Equal(0, r.ExitCode);
        Assert.Contains("Conformance tool", r.Stdout);
    }
}
