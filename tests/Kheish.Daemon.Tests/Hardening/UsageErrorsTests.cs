using System.CommandLine;
using Kheish.Daemon.Cli;

namespace Kheish.Daemon.Tests.Hardening;

/// <summary>Issue 12, in process: the "did you mean" rule and json detection for usage errors.</summary>
public sealed class UsageErrorsTests
{
    private static Command Verb(params string[] path)
    {
        Command c = KheishCli.Build();
        foreach (string name in path)
        {
            c = c.Subcommands.Single(s => s.Name == name);
        }

        return c;
    }

    [Test]
    [Arguments("lsit", "list")]
    [Arguments("delet", "delete")]
    [Arguments("--ofline", "--offline")]
    [Arguments("--state-rot", "--state-root")]
    [Arguments("--outptu", "--output")]
    public async Task A_near_miss_under_secrets_is_suggested(string typed, string expected)
    {
        Command secrets = typed.StartsWith('-') ? Verb("secrets", "list") : Verb("secrets");

        await Assert.That(UsageErrors.Suggest(secrets, typed)).IsEqualTo(expected);
    }

    [Test]
    [Arguments("frobnicate")]
    [Arguments("x")]
    [Arguments("--zzzzzz")]
    public async Task Something_far_from_every_name_gets_no_suggestion(string typed)
    {
        await Assert.That(UsageErrors.Suggest(Verb("secrets"), typed)).IsNull();
    }

    [Test]
    public async Task A_mistyped_top_level_verb_is_suggested()
    {
        await Assert.That(UsageErrors.Suggest(KheishCli.Build(), "secrest")).IsEqualTo("secrets");
        await Assert.That(UsageErrors.Suggest(KheishCli.Build(), "doctr")).IsEqualTo("doctor");
    }

    [Test]
    [Arguments("-o json", true)]
    [Arguments("--output json", true)]
    [Arguments("--output=json", true)]
    [Arguments("-o pretty", false)]
    [Arguments("-- -o json", false)]
    [Arguments("", false)]
    public async Task Json_mode_is_read_from_the_raw_arguments(string args, bool json)
    {
        await Assert.That(UsageErrors.WantsJson(args.Split(' ', StringSplitOptions.RemoveEmptyEntries))).IsEqualTo(json);
    }
}
