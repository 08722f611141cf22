using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Cli;

public sealed class RootCommandTests
{
    [Test]
    public async Task Version_prints_the_version_and_exits_zero()
    {
        CliResult r = await Support.Cli.RunAsync("--version");

        await Assert.That(r.ExitCode).IsEqualTo(0);
        await Assert.That(r.Stdout).Matches(@"^\d+\.\d+\.\d+");
    }

    [Test]
    public async Task Unknown_verb_is_a_usage_error_with_exit_code_2()
    {
        CliResult r = await Support.Cli.RunAsync("no-such-verb");

        await Assert.That(r.ExitCode).IsEqualTo(2);
        await Assert.That(r.Stderr).Contains("no-such-verb");
    }

    [Test]
    public async Task Secrets_generate_prints_base64_of_32_random_bytes()
    {
        CliResult a = await Support.Cli.RunAsync("secrets", "generate");
        CliResult b = await Support.Cli.RunAsync("secrets", "generate");

        await Assert.That(a.ExitCode).IsEqualTo(0);
        await Assert.That(Convert.FromBase64String(a.Stdout.Trim()).Length).IsEqualTo(32);
        await Assert.That(b.Stdout).IsNotEqualTo(a.Stdout);
    }
}
