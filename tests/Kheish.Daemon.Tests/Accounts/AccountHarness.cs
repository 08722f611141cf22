using System.Text.Json;
using Kheish.Daemon.Tests.Egress;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Accounts;

/// <summary>
/// A real daemon holding a Codex account (slot <c>openai.codex</c>, route <c>codex</c>) and a
/// Claude Code account (slot <c>anthropic.claude</c>, route <c>claude</c>), imported offline from
/// fixture login files; refreshes go to a loopback <see cref="TokenEndpoint"/> and provider
/// calls to a loopback <see cref="RecordingUpstream"/>.
/// </summary>
public sealed class AccountHarness : IAsyncDisposable
{
    public const string CodexSlot = "openai.codex";
    public const string ClaudeSlot = "anthropic.claude";

    private AccountHarness()
    {
        MasterKey = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
    }

    public TempDir Dir { get; } = new();

    public string MasterKey { get; }

    public TokenEndpoint Tokens { get; } = new();

    public RecordingUpstream Upstream { get; } = new();

    public string CodexAccess { get; private set; } = null!;

    public string CodexRefresh { get; } = Canary.New("codexrefresh");

    public string ClaudeAccess { get; } = Canary.New("claudeaccess");

    public string ClaudeRefresh { get; } = Canary.New("clauderefresh");

    public string AdminToken { get; } = "adm-" + Guid.NewGuid().ToString("N");

    public string ApiKey { get; private set; } = null!;

    public DaemonProcess Daemon { get; private set; } = null!;

    public string Project => Dir.File("project");

    public string CodexFile => Dir.File("auth.json");

    public string ClaudeFile => Dir.File(".credentials.json");

    public Dictionary<string, string?> Env => new()
    {
        ["KHEISH_AUTH_STORE_MASTER_KEY"] = MasterKey,
        ["XDG_CONFIG_HOME"] = Dir.File("xdg"),
        ["KHEISH_CODEX_ISSUER"] = Tokens.BaseUrl,
        ["KHEISH_CLAUDE_TOKEN_URL"] = Tokens.BaseUrl + "/v1/oauth/token",
    };

    /// <summary>Imports both accounts and starts the daemon. Expiries default to an hour from now.</summary>
    public static async Task<AccountHarness> StartAsync(
        DateTimeOffset? codexExpires = null,
        DateTimeOffset? claudeExpires = null,
        string? refreshIntervalSeconds = null,
        Action<TokenEndpoint>? configure = null)
    {
        var h = new AccountHarness();
        configure?.Invoke(h.Tokens);
        Directory.CreateDirectory(h.Project);
        h.CodexAccess = AccountFixtures.Jwt(codexExpires ?? DateTimeOffset.UtcNow.AddHours(1), marker: Canary.New("codexaccess"));
        AccountFixtures.Write(h.Dir, "auth.json", AccountFixtures.CodexAuthJson(h.CodexAccess, h.CodexRefresh));
        AccountFixtures.Write(h.Dir, ".credentials.json",
            AccountFixtures.ClaudeCredentialsJson(h.ClaudeAccess, h.ClaudeRefresh, claudeExpires ?? DateTimeOffset.UtcNow.AddHours(1)));

        CliResult codex = await h.OfflineAsync("secrets", "import-codex", CodexSlot, "--file", h.CodexFile);
        await Assert.That(codex.ExitCode == 0).IsTrue().Because(codex.ToString());
        CliResult claude = await h.OfflineAsync("secrets", "import-claude-code", ClaudeSlot, "--file", h.ClaudeFile);
        await Assert.That(claude.ExitCode == 0).IsTrue().Because(claude.ToString());

        File.WriteAllText(h.Dir.File("routes.toml"), $"""
            version = 1
            default_route = "codex"

            [routes.codex]
            driver = "openai"
            default_model = "gpt-5-codex"
            auth_ref = "{CodexSlot}"
            base_url = "{h.Upstream.BaseUrl}/backend-api/codex"

            [routes.claude]
            driver = "anthropic"
            default_model = "claude-sonnet-4-5"
            auth_ref = "{ClaudeSlot}"
            base_url = "{h.Upstream.BaseUrl}"
            """);

        CliResult key = await Support.Cli.RunAsync(["security", "generate-key", "--project-root", h.Project, "--principal", "agent:coder", "-o", "json"], h.Env);
        await Assert.That(key.ExitCode == 0).IsTrue().Because(key.ToString());
        using (JsonDocument doc = JsonDocument.Parse(key.Stdout))
        {
            h.ApiKey = doc.RootElement.GetProperty("key").GetString()!;
        }

        Dictionary<string, string?> env = h.Env;
        if (refreshIntervalSeconds is not null)
        {
            env["KHEISH_ACCOUNT_REFRESH_INTERVAL_SECONDS"] = refreshIntervalSeconds;
        }

        h.Daemon = await DaemonProcess.StartAsync(
            h.Dir.StateRoot,
            ["--http-admin-token", h.AdminToken, "--project-root", h.Project, "--routes-file", h.Dir.File("routes.toml")],
            env);
        return h;
    }

    public Task<CliResult> OfflineAsync(params string[] args) =>
        Support.Cli.RunAsync([.. args, "--offline", "--state-root", Dir.StateRoot], Env);

    public Task<CliResult> OnlineAsync(params string[] args) =>
        Support.Cli.RunAsync([.. args, "--base-url", Daemon.BaseUri.ToString(), "--token", AdminToken], Env);

    public HttpClient Agent()
    {
        HttpClient client = Daemon.Client();
        client.DefaultRequestHeaders.Add("X-API-Key", ApiKey);
        return client;
    }

    public HttpClient Admin() => Daemon.Client(AdminToken);

    public async Task<JsonElement> AccountAsync(string slot)
    {
        using HttpClient admin = Admin();
        string text = await admin.GetStringAsync($"/v1/runtime/auth/accounts/{slot}");
        using JsonDocument doc = JsonDocument.Parse(text);
        return doc.RootElement.Clone();
    }

    /// <summary>Every token this test saw: none may appear in logs, outputs or any file but the login fixtures.</summary>
    public IEnumerable<string> AllTokens() =>
        new[] { CodexAccess, CodexRefresh, ClaudeAccess, ClaudeRefresh }
            .Concat(Tokens.Issued.SelectMany(p => new[] { p.Access, p.Refresh }));

    public void AssertNoTokenLeaked(params string[] outputs)
    {
        string all = string.Join("\n", outputs) + Daemon.Logs;
        foreach (string token in AllTokens())
        {
            Canary.AssertAbsent(token, all, "outputs and daemon logs");
            Canary.AssertAbsentFromFiles(token, Dir, "auth.json", ".credentials.json");
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Daemon is not null)
        {
            await Daemon.DisposeAsync();
        }

        // HttpListener.Close can throw "address already in use" while unbinding; the test is over by then.
        try
        {
            await Tokens.DisposeAsync();
        }
        catch (System.Net.HttpListenerException)
        {
        }

        try
        {
            await Upstream.DisposeAsync();
        }
        catch (System.Net.HttpListenerException)
        {
        }

        Dir.Dispose();
    }
}
