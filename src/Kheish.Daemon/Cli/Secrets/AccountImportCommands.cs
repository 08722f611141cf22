using System.CommandLine;
using Kheish.Core.Accounts;
using Kheish.Core.Errors;
using Kheish.Core.Secrets;

namespace Kheish.Daemon.Cli.Secrets;

/// <summary>
/// <c>secrets import-codex</c> and <c>secrets import-claude-code</c>: read a CLI's login file on
/// this machine and store it as an <c>oauth_account</c> slot, through the daemon or --offline.
/// The file is parsed here, before anything is sent or written: a refusal changes nothing.
/// </summary>
internal static class AccountImportCommands
{
    private static readonly Argument<string> Ref = new("ref")
    {
        Description = "Slot id to store the account in, e.g. openai.codex or anthropic.claude.",
    };

    private static readonly Option<string?> File = new("--file")
    {
        Description = "The login file to import instead of the default location.",
    };

    public static Command CreateCodex() => Create(
        AccountKind.Codex,
        "import-codex",
        "Import a Codex CLI ChatGPT login ($CODEX_HOME/auth.json, else ~/.codex/auth.json) into an openai oauth_account slot. " +
        "The daemon then refreshes it and routes using the slot call the ChatGPT backend as that account.");

    public static Command CreateClaudeCode() => Create(
        AccountKind.ClaudeCode,
        "import-claude-code",
        "Import a Claude Code subscription login ($CLAUDE_CONFIG_DIR/.credentials.json, else ~/.claude/.credentials.json) into an " +
        "anthropic oauth_account slot. It must hold the user:inference scope.");

    private static Command Create(AccountKind kind, string name, string description)
    {
        var command = new Command(name, description);
        command.Arguments.Add(Ref);
        command.Options.Add(File);
        CommonOptions.AddClientOptions(command);
        command.SetAction(async (parseResult, ct) =>
        {
            bool json = CommonOptions.IsJson(parseResult);
            if (!SlotId.Parse(parseResult.GetValue(Ref)).TryGetValue(out SlotId id, out KheishError? error))
            {
                return CliOutput.Fail(error, json);
            }

            string path = parseResult.GetValue(File) ?? AccountImport.DefaultPath(kind, Environment.GetEnvironmentVariable);
            if (!AccountImport.FromFile(kind, path).TryGetValue(out ImportedAccount? imported, out error))
            {
                return CliOutput.Fail(error, json);
            }

            foreach (string warning in imported.Warnings)
            {
                CliOutput.Warn(warning);
            }

            if (!SecretsCommand.ChooseBackend(parseResult).TryGetValue(out ISecretsBackend? backend, out error))
            {
                return CliOutput.Fail(error, json);
            }

            Result<SlotStatus> stored = await backend.SetAsync(imported.State.ToRecord(id), ct).ConfigureAwait(false);
            if (!stored.TryGetValue(out SlotStatus? status, out error))
            {
                return CliOutput.Fail(error, json);
            }

            if (json)
            {
                CliOutput.WriteJson(status, SecretsCliJsonContext.Default.SlotStatus);
            }
            else
            {
                CliOutput.Out.WriteLine($"imported {kind.Label()} account into {status.SlotId} ({status.Provider.Name()}, {status.Mode.Name()}): {status.Summary}");
                CliOutput.Out.WriteLine(
                    $"From now on only the daemon should refresh this login: point {kind.Label()} at a daemon route (README: Accounts) and " +
                    $"remove {imported.State.SourcePath} rather than logging out (a logout may revoke the tokens the daemon now holds).");
            }

            return ExitCodes.Ok;
        });
        return command;
    }
}
