using System.CommandLine;
using System.Net;
using System.Text.Json.Serialization;
using Kheish.Core.Errors;
using Kheish.Core.Storage;
using Kheish.Core.Text;
using Kheish.Core.Transparency;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Kheish.Daemon.Cli;

/// <summary>The witness's identity as <c>witness public-key --output json</c> prints it.</summary>
internal sealed record WitnessPublicKey(string Name, string PublicKey, string VerifierKey);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = false)]
[JsonSerializable(typeof(WitnessPublicKey))]
internal sealed partial class WitnessJsonContext : JsonSerializerContext;

/// <summary>
/// <c>kheish-daemon witness ...</c>: a C2SP tlog-witness. It keeps its own Ed25519 key and, per log
/// origin, the last checkpoint it cosigned, in its state root; <c>serve</c> answers
/// <c>POST /add-checkpoint</c> with a tlog-cosignature or refuses an inconsistent checkpoint.
/// </summary>
internal static class WitnessCommand
{
    private const int MaxBodyBytes = 2 * SignedNote.MaxNoteBytes;

    private static readonly Option<string?> Name = new("--name")
    {
        Description = "The witness key name in its cosignatures (default witness/<first 8 hex of its public key>).",
    };

    private static readonly Option<string> Bind = new("--bind")
    {
        Description = "Address and port to listen on (default 127.0.0.1:4100). Port 0 picks a free port; the ready line says which.",
        DefaultValueFactory = _ => "127.0.0.1:4100",
    };

    private static readonly Option<string[]> Logs = new("--log")
    {
        Description = "A log to witness: <origin>=<hex Ed25519 public key> (the log's 'audit public-key'). Repeatable; other origins get 404.",
        AllowMultipleArgumentsPerToken = false,
    };

    public static Command Create()
    {
        var command = new Command("witness", "A C2SP tlog-witness: cosigns transparency-log checkpoints that extend the last one it cosigned, and refuses forks and rollbacks.");

        var publicKey = new Command("public-key", "Print the witness's Ed25519 public key (hex; created in the state root on first use) and its note verifier key.");
        publicKey.Options.Add(Name);
        publicKey.SetAction((parseResult, _) => Task.FromResult(RunPublicKey(parseResult)));
        command.Subcommands.Add(publicKey);

        var serve = new Command("serve", "Serve POST /add-checkpoint (C2SP tlog-witness) for the --log origins.");
        serve.Options.Add(Bind);
        serve.Options.Add(Logs);
        serve.Options.Add(Name);
        serve.SetAction(RunServeAsync);
        command.Subcommands.Add(serve);
        return command;
    }

    private static Result<string?> CheckName(ParseResult parseResult)
    {
        string? name = parseResult.GetValue(Name);
        return name is null || SignedNote.IsValidName(name)
            ? name
            : KheishError.BadRequest("invalid_witness_name", "--name must be non-empty with no spaces, control characters or '+'");
    }

    private static int RunPublicKey(ParseResult parseResult)
    {
        bool json = CommonOptions.IsJson(parseResult);
        if (!CheckName(parseResult).TryGetValue(out string? name, out KheishError? error))
        {
            return CliOutput.Fail(error, json);
        }

        StateRoot root = CommonOptions.GetStateRoot(parseResult);
        using Witness witness = Witness.Open(root.FullPath, name, new Dictionary<string, byte[]>());
        string hex = Convert.ToHexStringLower(witness.PublicKey);
        if (json)
        {
            CliOutput.WriteJson(new WitnessPublicKey(witness.Name, hex, witness.VerifierKey), WitnessJsonContext.Default.WitnessPublicKey);
        }
        else
        {
            CliOutput.Out.WriteLine(hex);
            CliOutput.Out.WriteLine(witness.VerifierKey);
        }

        return ExitCodes.Ok;
    }

    internal static Result<Dictionary<string, byte[]>> ParseLogs(IEnumerable<string> values)
    {
        var logs = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (string value in values)
        {
            int eq = value.LastIndexOf('=');
            string origin = eq > 0 ? value[..eq] : "";
            if (origin.Length == 0 || ControlCharacters.In(origin) || LogState.ParsePublicKey(value[(eq + 1)..]) is not { } key)
            {
                return KheishError.BadRequest("invalid_log", $"--log '{value}' is not <origin>=<64 hex characters of an Ed25519 public key>");
            }

            if (!logs.TryAdd(origin, key))
            {
                return KheishError.BadRequest("invalid_log", $"--log names origin '{origin}' twice");
            }
        }

        return logs.Count == 0 ? KheishError.BadRequest("invalid_log", "pass at least one --log <origin>=<hex public key>") : logs;
    }

    private static async Task<int> RunServeAsync(ParseResult parseResult, CancellationToken ct)
    {
        bool json = CommonOptions.IsJson(parseResult);
        if (!CheckName(parseResult).TryGetValue(out string? name, out KheishError? error)
            || !ParseLogs(parseResult.GetValue(Logs) ?? []).TryGetValue(out Dictionary<string, byte[]>? logs, out error))
        {
            return CliOutput.Fail(error, json);
        }

        if (!ServeCommand.TryParseBind(parseResult.GetValue(Bind)!, out IPEndPoint? bind, out error))
        {
            return CliOutput.Fail(error, json);
        }

        StateRoot root = CommonOptions.GetStateRoot(parseResult);
        if (!DaemonLock.TryAcquire(root, "a witness state root serves one witness process").TryGetValue(out DaemonLock? stateLock, out error))
        {
            return CliOutput.Fail(error, json);
        }

        using (stateLock)
        using (Witness witness = Witness.Open(root.FullPath, name, logs))
        {
            WebApplicationBuilder builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
            {
                Args = [],
                ContentRootPath = AppContext.BaseDirectory,
                EnvironmentName = "Production",
            });
            builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = Http.DaemonHost.ShutdownTimeout);
            builder.Logging.ClearProviders();
            builder.WebHost.ConfigureKestrel(k =>
            {
                k.AddServerHeader = false;
                k.Limits.MaxRequestBodySize = MaxBodyBytes;
                k.Listen(bind, l => l.Protocols = HttpProtocols.Http1);
            });

            await using WebApplication app = builder.Build();
            app.MapPost("/add-checkpoint", async (HttpContext context) =>
            {
                using var body = new MemoryStream();
                try
                {
                    await context.Request.Body.CopyToAsync(body, context.RequestAborted);
                }
                catch (Microsoft.AspNetCore.Http.BadHttpRequestException)
                {
                    context.Response.StatusCode = StatusCodes.Status413PayloadTooLarge;
                    return;
                }

                WitnessAnswer answer = witness.AddCheckpoint(body.GetBuffer().AsSpan(0, (int)body.Length));
                context.Response.StatusCode = answer.Status;
                context.Response.ContentType = answer.ContentType;
                context.Response.Headers.CacheControl = "no-store";
                await context.Response.WriteAsync(answer.Body, context.RequestAborted);
            });

            try
            {
                await app.StartAsync(ct);
            }
            catch (IOException ex)
            {
                return CliOutput.Fail(KheishError.Conflict("bind_failed", $"cannot listen on {bind}: {ex.Message}"), json);
            }

            string address = app.Urls.FirstOrDefault() ?? $"http://{bind}";
            CliOutput.Error.WriteLine(
                $"kheish-daemon witness {witness.Name} ({Convert.ToHexStringLower(witness.PublicKey)}) listening on {address} for {string.Join(", ", logs.Keys)}");
            await app.WaitForShutdownAsync(ct);
        }

        return ExitCodes.Ok;
    }
}
