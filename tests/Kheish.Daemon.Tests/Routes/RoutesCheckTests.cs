using System.Text.Json;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Routes;

/// <summary><c>kheish-daemon routes check</c> on the real binary.</summary>
public sealed class RoutesCheckTests
{
    private const string Valid = """
        version = 1
        default_route = "openai"

        [routes.openai]
        driver = "openai"
        default_model = "gpt-4o"
        api_key_env = "KHEISH_TEST_OPENAI_KEY"

        [routes.claude]
        driver = "anthropic"
        default_model = "claude-sonnet-4"
        api_key = "API_KEY_PLACEHOLDER"
        """;

    private static async Task<CliResult> CheckAsync(TempDir dir, string toml, params string[] extra)
    {
        string file = dir.File("routes.toml");
        await File.WriteAllTextAsync(file, toml);
        return await Support.Cli.RunAsync(
            ["routes", "check", "--routes-file", file, "--state-root", dir.StateRoot, .. extra],
            new Dictionary<string, string?> { ["KHEISH_TEST_OPENAI_KEY"] = "from-env" });
    }

    [Test]
    public async Task A_valid_file_prints_each_route_without_its_key_and_exits_0()
    {
        using var dir = new TempDir();
        string canary = Canary.New("inline");

        CliResult r = await CheckAsync(dir, Valid.Replace("API_KEY_PLACEHOLDER", canary));

        await Assert.That(r.ExitCode).IsEqualTo(0);
        await Assert.That(r.Stdout).Contains("openai (default)");
        await Assert.That(r.Stdout).Contains("driver:    anthropic");
        await Assert.That(r.Stdout).Contains("model:     claude-sonnet-4");
        await Assert.That(r.Stdout).Contains("base_url:  https://api.openai.com/v1");
        await Assert.That(r.Stdout).Contains("auth:      api_key_env KHEISH_TEST_OPENAI_KEY");
        await Assert.That(r.Stdout).Contains("auth:      api_key (inline in the routes file)");
        Canary.AssertAbsent(canary, r.All, "routes check output");
    }

    [Test]
    public async Task Json_output_is_one_document_describing_the_routes()
    {
        using var dir = new TempDir();

        CliResult r = await CheckAsync(dir, Valid, "--output", "json");

        await Assert.That(r.ExitCode).IsEqualTo(0);
        using JsonDocument doc = JsonDocument.Parse(r.Stdout);
        await Assert.That(doc.RootElement.GetProperty("ok").GetBoolean()).IsTrue();
        await Assert.That(doc.RootElement.GetProperty("default_route").GetString()).IsEqualTo("openai");
        JsonElement claude = doc.RootElement.GetProperty("routes")[1];
        await Assert.That(claude.GetProperty("id").GetString()).IsEqualTo("claude");
        await Assert.That(claude.GetProperty("auth_source").GetString()).IsEqualTo("api_key");
        await Assert.That(claude.GetProperty("base_url").GetString()).IsEqualTo("https://api.anthropic.com");
    }

    [Test]
    public async Task A_file_that_is_not_toml_reports_line_and_column_and_exits_2()
    {
        using var dir = new TempDir();

        CliResult r = await CheckAsync(dir, "version = 1\n[routes.a\ndriver = \"openai\"\n");

        await Assert.That(r.ExitCode).IsEqualTo(2);
        await Assert.That(r.Stderr).Contains("not valid TOML: line 2, column 10");
    }

    [Test]
    public async Task An_unknown_field_is_named_with_its_route_and_exits_2()
    {
        using var dir = new TempDir();

        CliResult r = await CheckAsync(dir, "version = 1\n[routes.a]\ndriver = \"openai\"\ndefault_model = \"m\"\napi_key = \"k\"\nmodle = \"x\"\n");

        await Assert.That(r.ExitCode).IsEqualTo(2);
        await Assert.That(r.Stderr).Contains("route `a`: unknown field `modle`");
    }

    [Test]
    public async Task Auth_ref_with_api_key_is_a_conflict_and_exits_2()
    {
        using var dir = new TempDir();

        CliResult r = await CheckAsync(dir, "version = 1\n[routes.a]\ndriver = \"openai\"\ndefault_model = \"m\"\nauth_ref = \"openai.prod\"\napi_key = \"k\"\n");

        await Assert.That(r.ExitCode).IsEqualTo(2);
        await Assert.That(r.Stderr).Contains("route `a`: auth_ref and api_key cannot both be set");
    }

    [Test]
    public async Task Version_2_is_rejected_with_exit_2()
    {
        using var dir = new TempDir();

        CliResult r = await CheckAsync(dir, "version = 2\n[routes.a]\ndriver = \"openai\"\ndefault_model = \"m\"\napi_key = \"k\"\n");

        await Assert.That(r.ExitCode).IsEqualTo(2);
        await Assert.That(r.Stderr).Contains("routes file version 2 is not supported");
    }

    [Test]
    public async Task An_encrypted_store_without_the_master_key_makes_an_auth_ref_unverifiable()
    {
        using var dir = new TempDir();
        string key = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        CliResult set = await Support.Cli.RunAsync(
            ["secrets", "set", "openai.prod", "--provider", "openai", "--stdin", "--offline", "--state-root", dir.StateRoot],
            new Dictionary<string, string?> { ["KHEISH_AUTH_STORE_MASTER_KEY"] = key },
            stdin: "sk-value-123456");
        await Assert.That(set.ExitCode).IsEqualTo(0);

        CliResult r = await CheckAsync(dir, "version = 1\n[routes.a]\ndriver = \"openai\"\ndefault_model = \"m\"\nauth_ref = \"openai.prod\"\n", "--offline");

        await Assert.That(r.ExitCode).IsEqualTo(2);
        await Assert.That(r.Stderr).Contains("route `a` references auth_ref `openai.prod`, which cannot be verified");
        await Assert.That(r.Stderr).Contains("KHEISH_AUTH_STORE_MASTER_KEY");
    }

    [Test]
    public async Task Without_offline_and_without_a_daemon_an_auth_ref_is_unverifiable_and_offline_is_suggested()
    {
        using var dir = new TempDir();

        CliResult r = await CheckAsync(dir, "version = 1\n[routes.a]\ndriver = \"openai\"\ndefault_model = \"m\"\nauth_ref = \"openai.prod\"\n", "--base-url", "http://127.0.0.1:1");

        // The file is fine; only the daemon holding the slots is missing: exit 3 (README "Exit codes").
        await Assert.That(r.ExitCode).IsEqualTo(3);
        await Assert.That(r.Stderr).Contains("cannot be verified");
        await Assert.That(r.Stderr).Contains("--offline");
    }

    [Test]
    public async Task A_missing_environment_variable_is_named_and_exits_2()
    {
        using var dir = new TempDir();

        CliResult r = await CheckAsync(dir, "version = 1\n[routes.a]\ndriver = \"xai\"\ndefault_model = \"grok\"\napi_key_env = \"KHEISH_TEST_UNSET_VAR\"\n");

        await Assert.That(r.ExitCode).IsEqualTo(2);
        await Assert.That(r.Stderr).Contains("route `a`: api_key_env names environment variable `KHEISH_TEST_UNSET_VAR`, which is not set");
    }

    [Test]
    [Arguments("version = 1\n[routes.a]\ndriver = \"openai\"\ndefault_model = \"m\"\napi_key = \"CANARY\n")]
    [Arguments("version = 1\n[routes.a]\ndriver = \"openai\"\ndefault_model = \"m\"\napi_key = \"CANARY\"\nauth_ref = \"x\"\n")]
    [Arguments("version = 2\n[routes.a]\ndriver = \"nope\"\napi_key = \"CANARY\"\nbase_url = \"https://u:CANARY@h/\"\n")]
    [Arguments("version = 1\n[routes.a]\ndriver = \"openai\"\ndefault_model = \"m\"\napi_key = \"CANARY\u0001\"\n")]
    public async Task An_api_key_in_a_broken_file_never_appears_in_any_output(string template)
    {
        using var dir = new TempDir();
        string canary = Canary.New("routes");
        string toml = template.Replace("CANARY", canary);

        CliResult pretty = await CheckAsync(dir, toml);
        CliResult json = await CheckAsync(dir, toml, "--output", "json");

        await Assert.That(pretty.ExitCode).IsEqualTo(2);
        await Assert.That(json.ExitCode).IsEqualTo(2);
        Canary.AssertAbsent(canary, pretty.All, "routes check output");
        Canary.AssertAbsent(canary, json.All, "routes check --output json output");
    }

    [Test]
    public async Task A_missing_routes_file_exits_2_naming_the_file()
    {
        using var dir = new TempDir();

        CliResult r = await Support.Cli.RunAsync("routes", "check", "--routes-file", dir.File("none.toml"));

        await Assert.That(r.ExitCode).IsEqualTo(2);
        await Assert.That(r.Stderr).Contains("none.toml");
        await Assert.That(r.Stderr).Contains("does not exist");
    }

    [Test]
    public async Task An_inline_key_in_a_file_others_can_read_gets_a_warning()
    {
        using var dir = new TempDir();
        string file = dir.File("routes.toml");
        await File.WriteAllTextAsync(file, "version = 1\n[routes.a]\ndriver = \"xai\"\ndefault_model = \"grok\"\napi_key = \"k\"\n");
        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        CliResult r = await Support.Cli.RunAsync("routes", "check", "--routes-file", file);

        await Assert.That(r.ExitCode).IsEqualTo(0);
        await Assert.That(r.Stderr).Contains("warning: routes file");
        await Assert.That(r.Stderr).Contains("chmod 600");
    }
}
