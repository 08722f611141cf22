using System.CommandLine;

namespace Kheish.Daemon.Cli;

/// <summary><c>kheish-daemon secrets ...</c>: the secret store. Subverbs arrive with issue 2.</summary>
internal static class SecretsCommand
{
    public static Command Create()
    {
        var command = new Command("secrets", "Manage encrypted secret slots (provider keys, tokens).");
        var generate = new Command("generate", "Print a new random 32-byte master key (base64) for KHEISH_AUTH_STORE_MASTER_KEY.");
        generate.SetAction(_ =>
        {
            Console.Out.WriteLine(Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)));
            return ExitCodes.Ok;
        });
        command.Subcommands.Add(generate);
        return command;
    }
}
