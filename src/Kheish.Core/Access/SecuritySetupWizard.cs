using System.Net;

namespace Kheish.Core.Access;

/// <summary>What <c>security setup</c> decided; applied only after the operator confirms.</summary>
internal sealed record SecuritySetupChoices(
    SecurityConfigOrigin Target,
    string File,
    SecurityMode Mode,
    bool GenerateKey,
    IReadOnlyList<IpRule> AllowedIps);

/// <summary>Starting values of the wizard, from flags and from the file that already exists.</summary>
internal sealed record SecuritySetupDefaults(
    SecurityConfigOrigin Target,
    bool TargetFixed,
    SecurityMode Mode,
    bool GenerateKey,
    IReadOnlyList<IpRule> ExtraAllowedIps);

/// <summary>
/// The interactive <c>security setup</c> wizard: plain line prompts (work in any terminal, pty,
/// or pipe). Steps: file → mode → first key → IP allowlist → review → confirm. End of input or
/// 'q' at any prompt cancels, and nothing is written: the caller writes only what
/// <see cref="Run"/> returns.
/// </summary>
internal sealed class SecuritySetupWizard(TextReader input, TextWriter output, SecurityConfigLocation location)
{
    public static readonly IReadOnlyList<IpRule> Loopback = [IpRule.Parse("127.0.0.1").Value, IpRule.Parse("::1").Value];

    private sealed class CancelledException : Exception;

    /// <summary>The choices, or null when the operator cancelled.</summary>
    public SecuritySetupChoices? Run(SecuritySetupDefaults defaults)
    {
        try
        {
            return RunSteps(defaults);
        }
        catch (CancelledException)
        {
            output.WriteLine();
            output.Flush();
            return null;
        }
    }

    /// <summary>The choices the defaults imply, without asking (for <c>--yes</c>).</summary>
    public static SecuritySetupChoices Accept(SecuritySetupDefaults defaults, SecurityConfigLocation location)
    {
        string file = location.FileFor(defaults.Target);
        return new SecuritySetupChoices(
            defaults.Target,
            file,
            defaults.Mode,
            defaults.GenerateKey && defaults.Mode != SecurityMode.Lax,
            StartingAllowList(file, defaults.ExtraAllowedIps));
    }

    private SecuritySetupChoices RunSteps(SecuritySetupDefaults defaults)
    {
        output.WriteLine("kheish-daemon security setup");
        output.WriteLine("Configures who may call the agent plane (MCP gateway, provider egress): mode, API key, IP allowlist.");
        output.WriteLine("Press Enter to take the [default]. Type q (or Ctrl-D) to cancel: nothing is written until you confirm.");

        SecurityConfigOrigin target = defaults.Target;
        output.WriteLine();
        output.WriteLine("Step 1/5: where to write");
        if (defaults.TargetFixed)
        {
            output.WriteLine($"  {location.FileFor(target)} (chosen on the command line)");
        }
        else
        {
            output.WriteLine($"  1) project  {location.ProjectFile}");
            output.WriteLine($"               used when serve runs in {location.ProjectRoot}; replaces the global file as a whole");
            output.WriteLine($"  2) global   {location.GlobalFile}");
            output.WriteLine("               used by every project that has no file of its own");
            target = Choose("File", target == SecurityConfigOrigin.Global ? 2 : 1, 2) == 2 ? SecurityConfigOrigin.Global : SecurityConfigOrigin.Project;
        }

        string file = location.FileFor(target);
        SecurityConfigSnapshot existing = SecurityConfigSource.ReadFile(target, file);
        int existingKeys = existing.IsValid ? existing.Config.ApiKeys.Count : 0;
        if (!existing.IsValid)
        {
            output.WriteLine($"  note: the existing file is unusable and will be replaced: {existing.Error.Message}");
        }
        else if (File.Exists(file))
        {
            output.WriteLine($"  note: {file} exists; its {existingKeys} key(s) and trusted proxies are kept.");
        }

        output.WriteLine();
        output.WriteLine("Step 2/5: security mode");
        SecurityMode[] modes = [SecurityMode.Strict, SecurityMode.Relaxed, SecurityMode.Lax];
        for (int i = 0; i < modes.Length; i++)
        {
            output.WriteLine($"  {i + 1}) {modes[i].Name(),-8} {modes[i].Meaning()}");
        }

        output.WriteLine("     strict suits shared machines and CI; relaxed local development; lax only a fully trusted machine.");
        SecurityMode mode = modes[Choose("Mode", Array.IndexOf(modes, defaults.Mode) + 1, 3) - 1];

        output.WriteLine();
        output.WriteLine("Step 3/5: API key");
        bool generate = false;
        if (mode == SecurityMode.Lax)
        {
            output.WriteLine("  lax mode does not check keys: none is generated.");
        }
        else
        {
            output.WriteLine("  A key is 'kheish_' + 64 hex digits. Only its SHA-256 digest is stored; the key is shown once, after writing.");
            generate = YesNo("Generate an API key now?", defaults.GenerateKey || existingKeys == 0);
        }

        output.WriteLine();
        output.WriteLine("Step 4/5: IP allowlist (empty = every address may connect; the API key rules still apply)");
        List<IpRule> allowed = [.. StartingAllowList(file, defaults.ExtraAllowedIps)];
        EditAllowList(allowed);

        output.WriteLine();
        output.WriteLine("Step 5/5: review");
        output.WriteLine($"  file         {file}");
        output.WriteLine($"  mode         {mode.Name()}: {mode.Meaning()}");
        output.WriteLine($"  new key      {(generate ? "yes (shown once after writing)" : "no")}");
        output.WriteLine($"  kept keys    {existingKeys}");
        output.WriteLine($"  allowed IPs  {(allowed.Count == 0 ? "(empty: every address)" : string.Join(", ", allowed))}");
        if (mode == SecurityMode.Strict && !generate && existingKeys == 0)
        {
            output.WriteLine("  warning: strict with no keys refuses every agent request until you run 'security generate-key'.");
        }

        if (!YesNo("Write this configuration?", false))
        {
            throw new CancelledException();
        }

        return new SecuritySetupChoices(target, file, mode, generate, allowed);
    }

    private static List<IpRule> StartingAllowList(string file, IReadOnlyList<IpRule> extra)
    {
        SecurityConfigSnapshot existing = SecurityConfigSource.ReadFile(SecurityConfigOrigin.Project, file);
        IReadOnlyList<IpRule> start = existing.IsValid && File.Exists(file) ? existing.Config.AllowedIps.Rules : Loopback;
        List<IpRule> list = [.. start];
        foreach (IpRule rule in extra)
        {
            if (!list.Contains(rule))
            {
                list.Add(rule);
            }
        }

        return list;
    }

    private void EditAllowList(List<IpRule> allowed)
    {
        while (true)
        {
            output.WriteLine($"  current: {(allowed.Count == 0 ? "(empty: every address)" : string.Join(", ", allowed))}");
            string line = Ask("  add an address or CIDR, -ENTRY to remove, Enter when done: ");
            if (line.Length == 0)
            {
                return;
            }

            bool remove = line.StartsWith('-');
            var parsed = IpRule.Parse(remove ? line[1..] : line);
            if (!parsed.IsOk)
            {
                output.WriteLine($"  {parsed.Error.Message}");
                continue;
            }

            IpRule rule = parsed.Value;
            if (!remove)
            {
                output.WriteLine(allowed.Contains(rule) ? $"  {rule} is already listed" : $"  added {rule}");
                if (!allowed.Contains(rule))
                {
                    allowed.Add(rule);
                }

                continue;
            }

            if (!allowed.Contains(rule))
            {
                output.WriteLine($"  {rule} is not in the list");
                continue;
            }

            if (rule.IsSingleAddress && IPAddress.IsLoopback(rule.Network.BaseAddress)
                && !YesNo($"  {rule} is loopback: agents on this machine connecting over it will be refused. Remove it?", false))
            {
                output.WriteLine($"  kept {rule}");
                continue;
            }

            if (allowed.Count == 1 && !YesNo("  This is the last entry: an empty list lets EVERY address connect. Remove it?", false))
            {
                output.WriteLine($"  kept {rule}");
                continue;
            }

            allowed.Remove(rule);
            output.WriteLine($"  removed {rule}");
        }
    }

    private int Choose(string what, int @default, int max)
    {
        while (true)
        {
            string line = Ask($"{what} [{@default}]: ");
            if (line.Length == 0)
            {
                return @default;
            }

            if (int.TryParse(line, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int n) && n >= 1 && n <= max)
            {
                return n;
            }

            output.WriteLine($"  please type a number from 1 to {max}, or q to cancel");
        }
    }

    private bool YesNo(string question, bool @default)
    {
        while (true)
        {
            string line = Ask($"{question} [{(@default ? "Y/n" : "y/N")}]: ").ToLowerInvariant();
            switch (line)
            {
                case "":
                    return @default;
                case "y" or "yes":
                    return true;
                case "n" or "no":
                    return false;
                default:
                    output.WriteLine("  please answer y or n, or q to cancel");
                    break;
            }
        }
    }

    private string Ask(string prompt)
    {
        output.Write(prompt);
        output.Flush();
        string? line = input.ReadLine();
        if (line is null)
        {
            throw new CancelledException();
        }

        line = line.Trim();
        if (line is "q" or "quit" or "cancel")
        {
            throw new CancelledException();
        }

        return line;
    }
}
