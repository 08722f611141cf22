using System.CommandLine;
using Kheish.Core.Toml;

namespace Kheish.Daemon.Cli;

/// <summary>
/// <c>kheish-daemon toml decode</c>: the toml-test decoder interface, so our TOML reader can be
/// checked by toml-test's own runner (<c>toml-test test -decoder="kheish-daemon toml decode"</c>).
/// </summary>
internal static class TomlCommand
{
    /// <summary>The toml-test interface asks for a non-zero exit on invalid input; 1 is what decoders use.</summary>
    private const int Rejected = 1;

    public static Command Create()
    {
        var command = new Command("toml", "TOML tools (conformance checking of the built-in TOML 1.0 reader).");
        var decode = new Command(
            "decode",
            "Conformance tool (toml-test decoder interface): read TOML from stdin and print toml-test's " +
            "type-tagged JSON on stdout (exit 0); invalid TOML prints line, column and reason on stderr (exit 1).");
        decode.SetAction(static async (_, ct) =>
        {
            using var input = new MemoryStream();
            using (Stream stdin = Console.OpenStandardInput())
            {
                await stdin.CopyToAsync(input, ct).ConfigureAwait(false);
            }

            if (!TomlReader.TryParse(input.GetBuffer().AsSpan(0, (int)input.Length), out TomlTable? table, out TomlError? error))
            {
                await CliOutput.Error.WriteLineAsync($"error: invalid TOML at {error}").ConfigureAwait(false);
                return Rejected;
            }

            using Stream stdout = Console.OpenStandardOutput();
            TomlTaggedJson.Write(table, stdout);
            stdout.WriteByte((byte)'\n');
            return ExitCodes.Ok;
        });
        command.Subcommands.Add(decode);
        return command;
    }
}
