using System.CommandLine;
using Kheish.Core.Errors;
using Kheish.Daemon.Http;

namespace Kheish.Daemon.Cli;

/// <summary><c>kheish-daemon runtime get</c>: routes, MCP servers and transparency-log witnesses in force (never a secret).</summary>
internal static class McpRuntimeGet
{
    public static Command Create()
    {
        var get = new Command("get", "Show the running daemon's routes, MCP servers (connected, restarts, credential slots, tools) and witnesses (cosigned size, last error).");
        CommonOptions.AddOnlineOptions(get);
        get.SetAction(async (parseResult, ct) =>
        {
            bool json = CommonOptions.IsJson(parseResult);
            if (!CommonOptions.CreateClient(parseResult).TryGetValue(out Client.DaemonClient? client, out KheishError? error))
            {
                return CliOutput.Fail(error, json);
            }

            using (client)
            {
                if (!(await client.GetAsync("/v1/runtime", HttpJsonContext.Default.RuntimeResponse, ct).ConfigureAwait(false)).TryGetValue(out RuntimeResponse? runtime, out error))
                {
                    return CliOutput.Fail(error, json);
                }

                if (json)
                {
                    CliOutput.WriteJson(runtime, HttpJsonContext.Default.RuntimeResponse);
                    return ExitCodes.Ok;
                }

                CliOutput.Out.WriteLine($"routes ({runtime.Routes.Count}, default {runtime.DefaultRoute ?? "none"}):");
                foreach (RouteView r in runtime.Routes)
                {
                    CliOutput.Out.WriteLine($"  {r.Id} {r.Driver} {r.BaseUrl} ({r.CredentialSource}{(r.AuthRef is null ? "" : " " + r.AuthRef)})");
                }

                CliOutput.Out.WriteLine("mcp servers:");
                McpCommand.PrintServers(runtime.Mcp?.Servers ?? []);
                if (runtime.Witnesses is { } w)
                {
                    CliOutput.Out.WriteLine($"witnesses (quorum {w.Quorum}, {w.QuorumFailures} quorum failure(s)):");
                    foreach (Core.Transparency.WitnessStatus s in w.Witnesses)
                    {
                        CliOutput.Out.WriteLine($"  {s.Url} {s.KeyName ?? s.PublicKey[..16]} cosigned size {(s.CosignedSize is { } size ? size.ToString(System.Globalization.CultureInfo.InvariantCulture) : "none")}{(s.LastError is { } e ? $"; last error: {e}" : "")}");
                    }
                }
            }

            return ExitCodes.Ok;
        });
        return get;
    }
}
