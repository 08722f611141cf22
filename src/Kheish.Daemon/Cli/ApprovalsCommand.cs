using System.CommandLine;
using Kheish.Core.Errors;
using Kheish.Daemon.Http.Mcp;

namespace Kheish.Daemon.Cli;

/// <summary>
/// <c>kheish-daemon approvals list [--watch]</c>, <c>approvals approve|deny &lt;id&gt; [--reason R]</c>:
/// tool calls an MCP server's <c>tool_policy</c> holds for an operator (online; the list needs the
/// read-only token at least and shows arguments only to the admin token, decisions need admin).
/// </summary>
internal static class ApprovalsCommand
{
    private static readonly Argument<string> Id = new("id") { Description = "The approval id (64 hex characters, from 'approvals list')." };
    private static readonly Option<string?> Reason = new("--reason") { Description = "Why (1-200 characters): recorded in the ledger and shown to the agent." };
    private static readonly Option<bool> Watch = new("--watch") { Description = "Keep polling and print the list again whenever it changes (-o json: one JSON document per line). Ctrl-C stops." };
    private static readonly Option<int> Interval = new("--interval-sec")
    {
        Description = "With --watch: seconds between polls (1-60, default 2).",
        DefaultValueFactory = _ => 2,
    };

    public static Command Create()
    {
        var approvals = new Command("approvals",
            "Tool calls held by an MCP server's tool_policy (\"approve\") until an operator decides. Each decision is a ledger record naming the approver, bound to the call's argument digest; one approval runs exactly the held call.\n\n" +
            "Held tools are set per server: tool_policy = { \"echo\" = \"approve\", \"delete_*\" = \"deny\" } and approval_timeout_sec = 300 in [mcp_servers.<name>], or 'mcp servers add ... --tool-policy echo=approve'.\n\n" +
            "Examples:\n" +
            "  kheish-daemon approvals list\n" +
            "  kheish-daemon approvals list --watch -o json\n" +
            "  id=$(kheish-daemon approvals list -o json | jq -r '.approvals[] | select(.status == \"pending\") | .id' | head -n 1)\n" +
            "  kheish-daemon approvals approve \"$id\" --reason \"checked the message\"\n" +
            "  kheish-daemon approvals deny \"$id\" --reason \"not during the freeze\"");
        approvals.Subcommands.Add(CreateList());
        approvals.Subcommands.Add(CreateDecide("approve", approve: true));
        approvals.Subcommands.Add(CreateDecide("deny", approve: false));
        return approvals;
    }

    private static Command CreateList()
    {
        var list = new Command("list", "List held tool calls (pending, and the most recently closed: approved, denied, expired, cancelled, abandoned). Arguments only with the admin token.");
        list.Options.Add(Watch);
        list.Options.Add(Interval);
        CommonOptions.AddOnlineOptions(list);
        list.SetAction(async (parseResult, ct) =>
        {
            bool json = CommonOptions.IsJson(parseResult);
            int interval = parseResult.GetValue(Interval);
            if (interval is < 1 or > 60)
            {
                return CliOutput.Fail(KheishError.BadRequest("invalid_interval", "--interval-sec must be between 1 and 60"), json);
            }

            if (!CommonOptions.CreateClient(parseResult).TryGetValue(out Client.DaemonClient? client, out KheishError? error))
            {
                return CliOutput.Fail(error, json);
            }

            using (client)
            {
                string? last = null;
                while (true)
                {
                    if (!(await client.GetAsync("/v1/runtime/approvals", ApprovalsJsonContext.Default.ApprovalsResponse, ct).ConfigureAwait(false))
                            .TryGetValue(out ApprovalsResponse? response, out error))
                    {
                        return CliOutput.Fail(error, json);
                    }

                    string current = CliOutput.ToJson(response, ApprovalsJsonContext.Default.ApprovalsResponse);
                    if (current != last)
                    {
                        last = current;
                        if (json)
                        {
                            CliOutput.Out.WriteLine(current);
                        }
                        else
                        {
                            Print(response.Approvals, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
                        }

                        CliOutput.Out.Flush();
                    }

                    if (!parseResult.GetValue(Watch))
                    {
                        return ExitCodes.Ok;
                    }

                    await Task.Delay(TimeSpan.FromSeconds(interval), ct).ConfigureAwait(false);
                }
            }
        });
        return list;
    }

    private static void Print(IReadOnlyList<ApprovalView> approvals, long nowMs)
    {
        if (approvals.Count == 0)
        {
            CliOutput.Out.WriteLine("no held tool calls");
            return;
        }

        foreach (ApprovalView a in approvals)
        {
            string when = a.Status == "pending"
                ? $"expires in {Math.Max(0, (a.ExpiresAtMs - nowMs) / 1000)} s"
                : $"{a.Status}{(a.DecidedBy is null ? "" : " by " + a.DecidedBy)}{(a.Reason is null ? "" : ": " + a.Reason)}";
            CliOutput.Out.WriteLine($"{a.Id} {a.Status,-9} {a.Server}__{a.Tool} by {a.PrincipalId}{(a.RunId is null ? "" : " (run " + a.RunId + ")")}, {when}");
            CliOutput.Out.WriteLine($"  args_digest {a.ArgsDigest}" + (a.Args is { } args ? $"  args {args.GetRawText()}" : "  (arguments: admin token only)"));
        }
    }

    private static Command CreateDecide(string verb, bool approve)
    {
        var decide = new Command(verb, approve
            ? "Approve one held call: it runs once, with the arguments it was held with. Exit 5: no such approval; 6: already decided, expired or cancelled."
            : "Deny one held call: the agent gets a JSON-RPC error with your reason. Exit 5: no such approval; 6: already decided, expired or cancelled.");
        decide.Arguments.Add(Id);
        decide.Options.Add(Reason);
        CommonOptions.AddOnlineOptions(decide);
        decide.SetAction(async (parseResult, ct) =>
        {
            bool json = CommonOptions.IsJson(parseResult);
            string id = parseResult.GetValue(Id)!;
            if (id.Length != 64 || !id.All(char.IsAsciiHexDigitLower))
            {
                return CliOutput.Fail(KheishError.BadRequest("invalid_approval_id", "an approval id is 64 lowercase hex characters (see 'kheish-daemon approvals list')"), json);
            }

            if (!CommonOptions.CreateClient(parseResult).TryGetValue(out Client.DaemonClient? client, out KheishError? error))
            {
                return CliOutput.Fail(error, json);
            }

            using (client)
            {
                if (!(await client.SendAsync(HttpMethod.Post, $"/v1/runtime/approvals/{id}/{verb}",
                        Client.DaemonClient.Json(new ApprovalDecisionRequest(parseResult.GetValue(Reason)), ApprovalsJsonContext.Default.ApprovalDecisionRequest),
                        ApprovalsJsonContext.Default.ApprovalView, ct).ConfigureAwait(false)).TryGetValue(out ApprovalView? view, out error))
                {
                    return CliOutput.Fail(error, json);
                }

                if (json)
                {
                    CliOutput.WriteJson(view, ApprovalsJsonContext.Default.ApprovalView);
                }
                else
                {
                    CliOutput.Out.WriteLine($"{view.Status} {view.Server}__{view.Tool} (approval {view.Id}, args_digest {view.ArgsDigest})");
                }
            }

            return ExitCodes.Ok;
        });
        return decide;
    }
}
