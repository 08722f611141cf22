using System.CommandLine;
using System.CommandLine.Parsing;

namespace Kheish.Daemon.Cli;

/// <summary>
/// Parse errors as the user sees them: every message, a "did you mean" for a token close to a
/// verb or option of the command it was typed under, and in json mode one error object on
/// stdout like every other failure.
/// </summary>
internal static class UsageErrors
{
    public const string Code = "usage";

    public static int Report(ParseResult parseResult, IReadOnlyList<string> args)
    {
        var lines = new List<string>();
        foreach (ParseError error in parseResult.Errors)
        {
            lines.Add(error.Message);
        }

        foreach (string token in parseResult.UnmatchedTokens)
        {
            if (Suggest(parseResult.CommandResult.Command, token) is { } suggestion)
            {
                lines.Add($"'{token}': did you mean '{suggestion}'?");
            }
        }

        string usage = $"Run '{string.Join(' ', CommandPath(parseResult))} --help' for usage.";
        if (WantsJson(args))
        {
            CliOutput.Out.WriteLine(CliOutput.ToJson(
                new CliErrorEnvelope(new CliError(Code, string.Join(" ", lines.Select(Sentence)) + " " + usage)),
                CliJsonContext.Default.CliErrorEnvelope));
        }

        foreach (string line in lines)
        {
            CliOutput.Error.WriteLine($"error: {line}");
        }

        CliOutput.Error.WriteLine(usage);
        return ExitCodes.BadRequest;
    }

    private static string Sentence(string line) => line.EndsWith('.') || line.EndsWith('?') ? line : line + ".";

    /// <summary>
    /// The verb or option of <paramref name="command"/> (options of its parents included) nearest to
    /// <paramref name="token"/>, when it is close enough to be a typo: at most 2 edits, and fewer than half the token.
    /// </summary>
    internal static string? Suggest(Command command, string token)
    {
        var candidates = new List<string>();
        if (token.StartsWith('-'))
        {
            for (Command? c = command; c is not null; c = c.Parents.OfType<Command>().FirstOrDefault())
            {
                foreach (Option option in c.Options)
                {
                    if (!option.Hidden && (c == command || option.Recursive))
                    {
                        candidates.Add(option.Name);
                        candidates.AddRange(option.Aliases.Where(a => a.StartsWith("--", StringComparison.Ordinal)));
                    }
                }
            }
        }
        else
        {
            candidates.AddRange(command.Subcommands.Where(s => !s.Hidden).SelectMany(s => s.Aliases.Prepend(s.Name)));
        }

        string? best = null;
        int bestDistance = int.MaxValue;
        foreach (string candidate in candidates.Distinct(StringComparer.Ordinal))
        {
            int d = Distance(token, candidate);
            if (d < bestDistance)
            {
                (best, bestDistance) = (candidate, d);
            }
        }

        int bare = token.TrimStart('-').Length;
        return best is not null && bestDistance > 0 && bestDistance <= 2 && bestDistance * 2 < Math.Max(bare, 2) + 1 ? best : null;
    }

    /// <summary>-o json, --output json, --output=json, -o=json, -o:json (whatever else failed to parse).</summary>
    internal static bool WantsJson(IReadOnlyList<string> args)
    {
        for (int i = 0; i < args.Count; i++)
        {
            string a = args[i];
            if (a == "--")
            {
                return false;
            }

            if ((a is "-o" or "--output") && i + 1 < args.Count)
            {
                if (args[i + 1] == "json")
                {
                    return true;
                }
            }
            else if (a is "--output=json" or "-o=json" or "-o:json" or "--output:json")
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Edit distance counting a swap of two neighbours as one edit (optimal string alignment):
    /// "lsit" is one edit from "list", two from "set". Verbs and options are short.
    /// </summary>
    internal static int Distance(string a, string b)
    {
        int[][] d = new int[a.Length + 1][];
        for (int i = 0; i <= a.Length; i++)
        {
            d[i] = new int[b.Length + 1];
            d[i][0] = i;
        }

        for (int j = 0; j <= b.Length; j++)
        {
            d[0][j] = j;
        }

        for (int i = 1; i <= a.Length; i++)
        {
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                int best = Math.Min(Math.Min(d[i - 1][j] + 1, d[i][j - 1] + 1), d[i - 1][j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                {
                    best = Math.Min(best, d[i - 2][j - 2] + 1);
                }

                d[i][j] = best;
            }
        }

        return d[a.Length][b.Length];
    }

    private static Stack<string> CommandPath(ParseResult parseResult)
    {
        var names = new Stack<string>();
        for (var r = parseResult.CommandResult; r is not null; r = r.Parent as CommandResult)
        {
            names.Push(r.Command is RootCommand ? "kheish-daemon" : r.Command.Name);
        }

        return names;
    }
}
