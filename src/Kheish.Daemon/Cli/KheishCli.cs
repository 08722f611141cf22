using System.CommandLine;
using System.Reflection;
using Kheish.Core.Errors;

namespace Kheish.Daemon.Cli;

/// <summary>The command tree. Each verb lives in its own <c>*Command.cs</c>.</summary>
internal static class KheishCli
{
    public static RootCommand Build()
    {
        var root = new RootCommand(
            "kheish-daemon keeps AI agents away from raw credentials: an encrypted secret store, " +
            "short-lived scoped leases, brokered provider/MCP calls, and a signed append-only ledger.");
        root.Options.Add(CommonOptions.StateRoot);
        root.Options.Add(CommonOptions.Output);

        // One line per verb keeps merges trivial.
        root.Subcommands.Add(ServeCommand.Create());
        root.Subcommands.Add(SecretsCommand.Create());
        root.Subcommands.Add(TomlCommand.Create());
        root.Subcommands.Add(RoutesCommand.Create());
        root.Subcommands.Add(RuntimeCommand.Create());
        root.Subcommands.Add(SecurityCommand.Create());
        root.Subcommands.Add(RunsCommand.Create());
        root.Subcommands.Add(AuditCommand.Create());
        root.Subcommands.Add(WitnessCommand.Create());
        root.Subcommands.Add(McpCommand.Create());
        root.Subcommands.Add(ApprovalsCommand.Create());
        root.Subcommands.Add(DoctorCommand.Create());

        ScopeStateRoot(root);

        // --version names the signing backend too: which Ed25519 code signs the ledger is part of
        // what a build is.
        foreach (Option option in root.Options)
        {
            if (option is VersionOption version)
            {
                version.Action = new VersionAction();
            }
        }

        return root;
    }

    /// <summary>Verbs that never read the state root: their help must not offer --state-root.</summary>
    private static readonly string[] WithoutStateRoot = ["security", "toml"];

    /// <summary>
    /// --state-root goes on every verb that reads the state root rather than on all of them
    /// (help shows only what a verb honours); it stays accepted before the verb, too.
    /// </summary>
    private static void ScopeStateRoot(RootCommand root)
    {
        CommonOptions.StateRoot.Recursive = false;
        foreach (Command verb in root.Subcommands)
        {
            if (!WithoutStateRoot.Contains(verb.Name))
            {
                AddEverywhere(verb);
            }
        }

        static void AddEverywhere(Command command)
        {
            if (!command.Options.Contains(CommonOptions.StateRoot))
            {
                command.Options.Add(CommonOptions.StateRoot);
            }

            foreach (Command sub in command.Subcommands)
            {
                AddEverywhere(sub);
            }
        }
    }

    public static async Task<int> RunAsync(string[] args)
    {
        RootCommand root = Build();
        // Response files would let "@file" expand into arguments; the default exception
        // handler prints stack traces that can hold secret material. Both are off.
        ParseResult parseResult = root.Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null });
        if (parseResult.Errors.Count > 0 && parseResult.Action is not System.CommandLine.Help.HelpAction)
        {
            return UsageErrors.Report(parseResult, args);
        }

        // Every `serve` verb (the daemon's and the witness's) runs a web host whose console
        // lifetime owns SIGTERM/SIGINT and drains before it returns. System.CommandLine's own
        // handler would race it: it gives up after its 2 s timeout and exits 143, so a loaded
        // machine turned a clean stop into a "killed" exit. Other verbs keep that handler.
        bool hostOwnsSignals = parseResult.CommandResult.Command.Name == "serve";
        var invocation = new InvocationConfiguration { EnableDefaultExceptionHandler = false };
        if (hostOwnsSignals)
        {
            invocation.ProcessTerminationTimeout = null;
        }

        using var cts = new CancellationTokenSource();
        try
        {
            return await parseResult.InvokeAsync(invocation, cts.Token).ConfigureAwait(false);
        }
        catch (KheishException ex)
        {
            return CliOutput.Fail(ex.Error, parseResult.GetValue(CommonOptions.Output) == "json");
        }
        catch (OperationCanceledException)
        {
            return 130;
        }
#pragma warning disable CA1031 // The last line of defence: report the type, never a stack trace that may hold secrets.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            await Console.Error.WriteLineAsync($"error: internal failure ({ex.GetType().Name}). This is a bug; please report it.").ConfigureAwait(false);
            return ExitCodes.HealthError;
        }
    }

    public static string Version { get; } =
        typeof(KheishCli).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";

    /// <summary>"0.1.0" then "ed25519: NSec.Cryptography 26.4.0, libsodium 1.0.22 (embedded)".</summary>
    private sealed class VersionAction : System.CommandLine.Invocation.SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            TextWriter output = parseResult.InvocationConfiguration.Output;
            output.WriteLine(Version);
            output.WriteLine($"ed25519: {Kheish.Core.Crypto.Libsodium.Ed25519Backend}");
            return 0;
        }
    }
}
