using System.CommandLine;
using Kheish.Core.Storage;

namespace Kheish.Daemon.Cli;

/// <summary>Options shared by many verbs, defined once.</summary>
internal static class CommonOptions
{
    public static readonly Option<string> StateRoot = new("--state-root")
    {
        Description = $"State directory (env {Core.Storage.StateRoot.EnvironmentVariable}, default {Core.Storage.StateRoot.DefaultPath}).",
        Recursive = true,
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable(Core.Storage.StateRoot.EnvironmentVariable) is { Length: > 0 } v
            ? v
            : Core.Storage.StateRoot.DefaultPath,
    };

    public static readonly Option<string> Output = CreateOutput();

    public static readonly Option<bool> Offline = new("--offline")
    {
        Description = "Operate on the state-root files directly instead of asking the running daemon.",
    };

    public static readonly Option<string> BaseUrl = new("--base-url")
    {
        Description = "Daemon URL (env KHEISH_DAEMON_URL, default http://127.0.0.1:4000).",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("KHEISH_DAEMON_URL") is { Length: > 0 } v
            ? v
            : "http://127.0.0.1:4000",
    };

    public static readonly Option<string?> Token = new("--token")
    {
        Description = "Control-plane bearer token (env KHEISH_DAEMON_TOKEN; default for a loopback daemon: <state-root>/control-plane-auth/admin.token). Prefer --token-file: argv is visible to other users.",
    };

    public static readonly Option<string?> TokenFile = new("--token-file")
    {
        Description = "File holding the control-plane bearer token (env KHEISH_DAEMON_TOKEN_FILE).",
    };

    public static StateRoot GetStateRoot(ParseResult parseResult) => new(parseResult.GetValue(StateRoot)!);

    /// <summary>The options of a verb that talks to a running daemon: --base-url, --token, --token-file.</summary>
    public static void AddOnlineOptions(Command command)
    {
        command.Options.Add(BaseUrl);
        command.Options.Add(Token);
        command.Options.Add(TokenFile);
    }

    /// <summary>The daemon client for an online verb, from --base-url / --token[-file] / env.</summary>
    public static Core.Errors.Result<Client.DaemonClient> CreateClient(ParseResult parseResult, TimeSpan? timeout = null) =>
        Client.DaemonClient.Create(
            parseResult.GetValue(BaseUrl)!,
            parseResult.GetValue(Token),
            parseResult.GetValue(TokenFile),
            Environment.GetEnvironmentVariable,
            GetStateRoot(parseResult).ControlPlaneAdminTokenFile,
            SourceOf(parseResult, BaseUrl, "KHEISH_DAEMON_URL"),
            timeout);

    /// <summary>
    /// The flag, or the env var its default came from: errors name what the user actually set.
    /// </summary>
    public static string SourceOf(ParseResult parseResult, Option option, string environmentVariable) =>
        parseResult.GetResult(option) is { Implicit: false } || Environment.GetEnvironmentVariable(environmentVariable) is not { Length: > 0 }
            ? option.Name
            : environmentVariable;

    public static bool IsJson(ParseResult parseResult) => parseResult.GetValue(Output) == "json";

    /// <summary>Adds the options every verb that can talk to a daemon takes.</summary>
    public static void AddClientOptions(Command command)
    {
        command.Options.Add(Offline);
        command.Options.Add(BaseUrl);
        command.Options.Add(Token);
        command.Options.Add(TokenFile);
    }

    private static Option<string> CreateOutput()
    {
        var option = new Option<string>("--output", "-o")
        {
            Description = "Output format: pretty (for people) or json (for scripts).",
            Recursive = true,
            DefaultValueFactory = _ => "pretty",
        };
        option.AcceptOnlyFromAmong("pretty", "json");
        return option;
    }
}
