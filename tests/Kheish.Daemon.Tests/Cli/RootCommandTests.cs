using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Cli;

public sealed class RootCommandTests
{
    [Fact]
    public async Task Version_prints_the_version_and_exits_zero()
    {
        CliResult r = await Support.Cli.RunAsync("--version");

        Assert.Equal(0, r.ExitCode);
        Assert.Matches(@"^\d+\.\d+\.\d+", r.Stdout);
    }

    [Fact]
    public async Task Unknown_verb_is_a_usage_error_with_exit_code_2()
    {
        CliResult r = await Support.Cli.RunAsync("no-such-verb");

        Assert.Equal(2, r.ExitCode);
        Assert.Contains("no-such-verb", r.Stderr);
    }

    [Fact]
    public async Task Secrets_generate_prints_base64_of_32_random_bytes()
    {
        CliResult a = await Support.Cli.RunAsync("secrets", "generate");
        CliResult b = await Support.Cli.RunAsync("secrets", "generate");

        Assert.Equal(0, a.ExitCode);
        Assert.Equal(32, Convert.FromBase64String(a.Stdout.Trim()).Length);
        Assert.NotEqual(a.Stdout, b.Stdout);
    }
}
