using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Kheish.Core.Crypto;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Hardening;

/// <summary>Issue 12, CLI and README consistency on the real binary: exit codes, usage errors, help, doctor.</summary>
public sealed class HardeningCliTests : IDisposable
{
    private readonly TempDir _dir = new();

    public HardeningCliTests() => Directory.CreateDirectory(Project);

    public void Dispose() => _dir.Dispose();

    private string Project => _dir.File("proj");

    private Dictionary<string, string?> Env => new() { ["XDG_CONFIG_HOME"] = _dir.File("xdg"), ["HOME"] = _dir.File("home") };

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    private string WriteRoutes(string body)
    {
        string file = _dir.File("routes.toml");
        File.WriteAllText(file, body);
        return file;
    }

    private const string RoutesWithAuthRef = "version = 1\n[routes.openai]\ndriver = \"openai\"\ndefault_model = \"gpt-5.4\"\nauth_ref = \"openai.prod\"\n";

    // ---- exit codes ----------------------------------------------------------------------

    [Test]
    public async Task Routes_check_with_no_daemon_exits_3_and_suggests_offline()
    {
        string routes = WriteRoutes(RoutesWithAuthRef);

        CliResult r = await Support.Cli.RunAsync(["routes", "check", "--routes-file", routes, "--base-url", $"http://127.0.0.1:{FreePort()}", "--state-root", _dir.StateRoot]);

        await Assert.That(r.ExitCode).IsEqualTo(3).Because(r.ToString());
        await Assert.That(r.Stderr).Contains("--offline");
    }

    [Test]
    public async Task Routes_check_of_a_broken_file_exits_2_even_with_no_daemon()
    {
        string routes = WriteRoutes(RoutesWithAuthRef + "modle = \"x\"\n");

        CliResult r = await Support.Cli.RunAsync(["routes", "check", "--routes-file", routes, "--base-url", $"http://127.0.0.1:{FreePort()}", "--state-root", _dir.StateRoot]);

        await Assert.That(r.ExitCode).IsEqualTo(2).Because(r.ToString());
    }

    [Test]
    [Arguments("bind", 2)]
    [Arguments("none_with_token", 2)]
    [Arguments("weak_token", 2)]
    [Arguments("missing_routes_file", 2)]
    [Arguments("auth_mode_env", 2)]
    [Arguments("bad_master_key", 1)]
    [Arguments("state_root_is_a_file", 1)]
    [Arguments("encrypted_state_without_key", 1)]
    [Arguments("port_in_use", 6)]
    public async Task Each_serve_refusal_exits_with_the_code_of_its_class(string refusal, int expected)
    {
        string stateRoot = _dir.StateRoot;
        var env = Env;
        List<string> args = [];
        using var holder = new TcpListener(IPAddress.Loopback, 0);
        switch (refusal)
        {
            case "bind": args.AddRange(["--bind", "nonsense"]); break;
            case "none_with_token": args.AddRange(["--http-auth-mode", "none", "--http-admin-token", new string('a', 40)]); break;
            case "weak_token": args.AddRange(["--http-admin-token", "short"]); break;
            case "missing_routes_file": args.AddRange(["--routes-file", _dir.File("nope.toml")]); break;
            case "auth_mode_env": env["KHEISH_HTTP_AUTH_MODE"] = "bogus"; break;
            case "bad_master_key": env[MasterKey.ValueVariable] = "not-a-key"; break;
            case "state_root_is_a_file":
                stateRoot = _dir.File("a-file");
                File.WriteAllText(stateRoot, "x");
                break;
            case "encrypted_state_without_key":
                await RevokeOfflineUnderAMasterKeyAsync();
                break;
            case "port_in_use":
                holder.Start();
                args.AddRange(["--bind", $"127.0.0.1:{((IPEndPoint)holder.LocalEndpoint).Port}"]);
                break;
        }

        CliResult r = await DaemonProcess.RunExpectingRefusalAsync(stateRoot, [.. args, "--project-root", Project], env);

        await Assert.That(r.ExitCode).IsEqualTo(expected).Because(r.ToString());
        if (refusal == "auth_mode_env")
        {
            await Assert.That(r.Stderr).Contains("KHEISH_HTTP_AUTH_MODE");
        }
    }

    /// <summary>A revocation journaled under a master key: the broker state is encrypted.</summary>
    private async Task<MasterKey> RevokeOfflineUnderAMasterKeyAsync()
    {
        MasterKey key = MasterKey.Generate();
        var env = new Dictionary<string, string?>(Env) { [MasterKey.ValueVariable] = Convert.ToBase64String(key.Bytes) };
        CliResult revoke = await Support.Cli.RunAsync(["runtime", "auth", "revoke-subject", "agent:x", "--offline", "--state-root", _dir.StateRoot], env);
        await Assert.That(revoke.ExitCode).IsEqualTo(0).Because(revoke.ToString());
        return key;
    }

    [Test]
    public async Task Starting_without_the_master_key_after_revocations_names_the_missing_key()
    {
        await RevokeOfflineUnderAMasterKeyAsync();

        CliResult r = await DaemonProcess.RunExpectingRefusalAsync(_dir.StateRoot, ["--project-root", Project], Env);

        await Assert.That(r.ExitCode).IsEqualTo(1).Because(r.ToString());
        await Assert.That(r.Stderr).Contains("no master key is set");
        await Assert.That(r.Stderr).Contains(MasterKey.ValueVariable);
        await Assert.That(r.Stderr).DoesNotContain("deleting it");
    }

    [Test]
    public async Task A_base_url_from_the_environment_is_named_by_its_variable()
    {
        var env = new Dictionary<string, string?>(Env) { ["KHEISH_DAEMON_URL"] = "not a url" };

        CliResult r = await Support.Cli.RunAsync(["secrets", "list", "--state-root", _dir.StateRoot], env);

        await Assert.That(r.ExitCode).IsEqualTo(2).Because(r.ToString());
        await Assert.That(r.Stderr).Contains("KHEISH_DAEMON_URL 'not a url'");
    }

    // ---- usage errors, suggestions, help -------------------------------------------------

    [Test]
    public async Task A_mistyped_verb_in_json_mode_is_one_json_error_with_a_suggestion()
    {
        CliResult r = await Support.Cli.RunAsync(["secrets", "lsit", "-o", "json"]);

        await Assert.That(r.ExitCode).IsEqualTo(2);
        using JsonDocument doc = JsonDocument.Parse(r.Stdout);
        JsonElement error = doc.RootElement.GetProperty("error");
        await Assert.That(error.GetProperty("code").GetString()).IsEqualTo("usage");
        await Assert.That(error.GetProperty("message").GetString()).Contains("did you mean 'list'?");
    }

    [Test]
    public async Task A_mistyped_option_gets_a_did_you_mean()
    {
        CliResult r = await Support.Cli.RunAsync(["secrets", "list", "--ofline", "--state-root", _dir.StateRoot]);

        await Assert.That(r.ExitCode).IsEqualTo(2);
        await Assert.That(r.Stderr).Contains("did you mean '--offline'?");
        await Assert.That(r.Stdout).IsEmpty();
    }

    [Test]
    public async Task A_bad_output_value_is_still_a_usage_error()
    {
        CliResult r = await Support.Cli.RunAsync(["secrets", "list", "-o", "yaml"]);

        await Assert.That(r.ExitCode).IsEqualTo(2);
        await Assert.That(r.Stderr).Contains("yaml");
    }

    [Test]
    [Arguments("security status", "--state-root", false)]
    [Arguments("security generate-key", "--state-root", false)]
    [Arguments("toml decode", "--state-root", false)]
    [Arguments("secrets rekey", "--base-url", false)]
    [Arguments("secrets rekey", "--token-file", false)]
    [Arguments("secrets rekey", "--offline", true)]
    [Arguments("secrets list", "--state-root", true)]
    [Arguments("doctor", "--state-root", true)]
    public async Task Help_shows_only_the_options_a_verb_honours(string verb, string option, bool shown)
    {
        CliResult r = await Support.Cli.RunAsync([.. verb.Split(' '), "--help"]);

        await Assert.That(r.ExitCode).IsEqualTo(0);
        await Assert.That(r.Stdout.Contains(option, StringComparison.Ordinal)).IsEqualTo(shown).Because(r.Stdout);
    }

    [Test]
    public async Task The_state_root_is_still_accepted_before_the_verb()
    {
        CliResult r = await Support.Cli.RunAsync(["--state-root", _dir.StateRoot, "secrets", "list", "--offline", "-o", "json"]);

        await Assert.That(r.ExitCode).IsEqualTo(0).Because(r.ToString());
    }

    // ---- security setup / generate-key ---------------------------------------------------

    [Test]
    public async Task Setup_and_generate_key_print_the_key_in_the_same_shape_and_setup_rerun_adds_no_key()
    {
        CliResult first = await Security("setup", "--yes", "--generate-key", "-o", "json");
        CliResult again = await Security("setup", "--yes", "--generate-key", "-o", "json");
        CliResult status = await Security("status", "-o", "json");
        CliResult generated = await Security("generate-key", "-o", "json");

        await Assert.That(first.ExitCode).IsEqualTo(0).Because(first.ToString());
        using JsonDocument a = JsonDocument.Parse(first.Stdout);
        using JsonDocument g = JsonDocument.Parse(generated.Stdout);
        foreach (string field in new[] { "id", "key", "principal", "file" })
        {
            await Assert.That(a.RootElement.GetProperty(field).ValueKind).IsEqualTo(JsonValueKind.String);
            await Assert.That(g.RootElement.GetProperty(field).ValueKind).IsEqualTo(JsonValueKind.String);
        }

        await Assert.That(a.RootElement.GetProperty("key").GetString()!).StartsWith("kheish_");
        await Assert.That(again.ExitCode).IsEqualTo(0);
        using JsonDocument b = JsonDocument.Parse(again.Stdout);
        await Assert.That(b.RootElement.GetProperty("key_generated").GetBoolean()).IsFalse();
        await Assert.That(b.RootElement.TryGetProperty("key", out _)).IsFalse();
        await Assert.That(again.Stderr).Contains("no second key generated");
        using JsonDocument s = JsonDocument.Parse(status.Stdout);
        await Assert.That(s.RootElement.GetProperty("keys").GetArrayLength()).IsEqualTo(1);
    }

    private Task<CliResult> Security(params string[] args) =>
        Support.Cli.RunAsync(["security", .. args, "--project-root", Project], Env, workingDirectory: Project);

    [Test]
    public async Task Trust_proxy_and_untrust_proxy_edit_trusted_proxies()
    {
        CliResult trust = await Security("trust-proxy", "10.0.0.1");
        CliResult again = await Security("trust-proxy", "10.0.0.1", "-o", "json");
        CliResult trusted = await Security("status", "-o", "json");
        CliResult untrust = await Security("untrust-proxy", "10.0.0.1");
        CliResult missing = await Security("untrust-proxy", "10.0.0.1");
        CliResult bad = await Security("trust-proxy", "10.0.0.300");
        CliResult after = await Security("status", "-o", "json");

        await Assert.That(trust.ExitCode).IsEqualTo(0).Because(trust.ToString());
        await Assert.That(JsonDocument.Parse(again.Stdout).RootElement.GetProperty("changed").GetBoolean()).IsFalse();
        await Assert.That(JsonDocument.Parse(trusted.Stdout).RootElement.GetProperty("trusted_proxies")[0].GetString()).IsEqualTo("10.0.0.1");
        await Assert.That(untrust.ExitCode).IsEqualTo(0);
        await Assert.That(missing.ExitCode).IsEqualTo(5);
        await Assert.That(bad.ExitCode).IsEqualTo(2);
        await Assert.That(JsonDocument.Parse(after.Stdout).RootElement.GetProperty("trusted_proxies").GetArrayLength()).IsEqualTo(0);
    }

    // ---- secrets rekey -------------------------------------------------------------------

    [Test]
    public async Task Rekey_over_a_truncated_store_fails_and_changes_no_file()
    {
        using var h = new Secrets.SecretsHarness();
        string canary = Canary.New();
        await h.SetOk("openai.prod", canary);
        CliResult revoke = await Support.Cli.RunAsync(["runtime", "auth", "revoke-subject", "agent:x", "--offline", "--state-root", h.Dir.StateRoot], h.Env);
        await Assert.That(revoke.ExitCode).IsEqualTo(0).Because(revoke.ToString());
        byte[] slots = File.ReadAllBytes(h.SlotsFile);
        File.WriteAllBytes(h.SlotsFile, slots[..10]);
        Dictionary<string, byte[]> before = h.Dir.AllFiles().ToDictionary(f => f.Path, f => f.Bytes);
        var env = new Dictionary<string, string?>(h.Env) { [MasterKey.NewValueVariable] = Convert.ToBase64String(MasterKey.Generate().Bytes) };

        CliResult r = await h.RunWith(env, null, "rekey", "--offline");

        await Assert.That(r.ExitCode).IsEqualTo(1).Because(r.ToString());
        await Assert.That(r.Stderr).Contains("global-slots.json");
        await Assert.That(r.Stderr).Contains("changed nothing");
        Dictionary<string, byte[]> after = h.Dir.AllFiles().Where(f => !f.Path.EndsWith("daemon.lock", StringComparison.Ordinal)).ToDictionary(f => f.Path, f => f.Bytes);
        foreach ((string path, byte[] bytes) in before.Where(kv => !kv.Key.EndsWith("daemon.lock", StringComparison.Ordinal)))
        {
            await Assert.That(after[path]).IsEquivalentTo(bytes, CollectionOrdering.Matching).Because(path);
        }

        await Assert.That(after.Count).IsEqualTo(before.Count(kv => !kv.Key.EndsWith("daemon.lock", StringComparison.Ordinal)));
        Canary.AssertAbsent(canary, r.All, "rekey output");
    }

    // ---- doctor --------------------------------------------------------------------------

    [Test]
    public async Task Doctor_names_each_risk_with_its_fix_and_exits_1()
    {
        Directory.CreateDirectory(_dir.StateRoot);
        File.SetUnixFileMode(_dir.StateRoot, (UnixFileMode)0b111_101_101);
        string kheish = Path.Combine(Project, ".kheish");
        Directory.CreateDirectory(kheish);
        File.WriteAllText(Path.Combine(kheish, "security.json"), "{\"mode\":\"lax\",\"api_keys\":[],\"allowed_ips\":[],\"trusted_proxies\":[]}");
        File.SetUnixFileMode(Path.Combine(kheish, "security.json"), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        string masterKey = Convert.ToBase64String(MasterKey.Generate().Bytes);
        var env = new Dictionary<string, string?>(Env) { [MasterKey.ValueVariable] = masterKey };

        CliResult r = await Support.Cli.RunAsync(["doctor", "--state-root", _dir.StateRoot, "--project-root", Project, "--offline", "-o", "json"], env);

        await Assert.That(r.ExitCode).IsEqualTo(1).Because(r.ToString());
        using JsonDocument doc = JsonDocument.Parse(r.Stdout);
        await Assert.That(doc.RootElement.GetProperty("ok").GetBoolean()).IsFalse();
        Dictionary<string, JsonElement> checks = doc.RootElement.GetProperty("checks").EnumerateArray()
            .GroupBy(c => c.GetProperty("name").GetString()!).ToDictionary(g => g.Key, g => g.First());
        await Assert.That(checks["state_root"].GetProperty("status").GetString()).IsEqualTo("fail");
        await Assert.That(checks["state_root"].GetProperty("fix").GetString()).IsEqualTo($"chmod 700 {_dir.StateRoot}");
        await Assert.That(checks["environment"].GetProperty("status").GetString()).IsEqualTo("warn");
        await Assert.That(checks["environment"].GetProperty("message").GetString()).Contains(MasterKey.ValueVariable);
        await Assert.That(checks["security_json"].GetProperty("status").GetString()).IsEqualTo("warn");
        await Assert.That(checks["security_json"].GetProperty("message").GetString()).Contains("lax");
        Canary.AssertAbsent(masterKey, r.All, "doctor output");
    }

    [Test]
    public async Task Doctor_passes_a_sound_setup_and_checks_a_running_daemon()
    {
        CliResult key = await Security("generate-key", "-o", "json");
        await Assert.That(key.ExitCode).IsEqualTo(0).Because(key.ToString());
        await using DaemonProcess daemon = await DaemonProcess.StartAsync(_dir.StateRoot, ["--project-root", Project], Env);

        CliResult r = await Support.Cli.RunAsync(["doctor", "--state-root", _dir.StateRoot, "--project-root", Project, "--base-url", daemon.BaseUri.ToString(), "-o", "json"], Env);

        await Assert.That(r.ExitCode).IsEqualTo(0).Because(r.ToString());
        using JsonDocument doc = JsonDocument.Parse(r.Stdout);
        await Assert.That(doc.RootElement.GetProperty("ok").GetBoolean()).IsTrue();
        JsonElement daemonCheck = doc.RootElement.GetProperty("checks").EnumerateArray().Single(c => c.GetProperty("name").GetString() == "daemon");
        await Assert.That(daemonCheck.GetProperty("status").GetString()).IsEqualTo("ok");
        await Assert.That(daemonCheck.GetProperty("message").GetString()).Contains("agent plane strict");
        string token = File.ReadAllText(Path.Combine(_dir.StateRoot, "control-plane-auth", "admin.token")).Trim();
        Canary.AssertAbsent(token, r.All, "doctor output");
    }
}
