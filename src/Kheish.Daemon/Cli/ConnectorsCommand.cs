using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Kheish.Core.Connectors;
using Kheish.Core.Errors;
using Kheish.Core.Toml;
using Kheish.Daemon.Client;

namespace Kheish.Daemon.Cli;

/// <summary>
/// <c>kheish-daemon runtime connectors list|get|set|delete</c>: connector definitions on the
/// running daemon (it supervises the sidecars, so there is no --offline form). Secret fields
/// given by flags are references only (<c>--env-key KEY=slot</c>, <c>--env-key-from-env KEY=VAR</c>);
/// a value is written through a JSON or TOML file's <c>{"value": ...}</c>, never argv.
/// </summary>
internal static class ConnectorsCommand
{
    private static readonly Argument<string> KindArgument = new("kind") { Description = "external, http, slack or telegram." };
    private static readonly Argument<string> NameArgument = new("name") { Description = "Connector name: [a-z0-9_-], up to 64 characters." };

    private static readonly Option<string?> FileOption = new("--file", "-f")
    {
        Description = "JSON or TOML (by extension .toml) file with the definition (PUT body shape; see README 'Connectors'). Flags override its fields.",
    };

    private static readonly Option<string?> CommandOption = new("--command") { Description = "external: the sidecar executable." };
    private static readonly Option<string[]> ArgOption = new("--arg") { Description = "external: one sidecar argument (repeatable, in order)." };
    private static readonly Option<string?> CwdOption = new("--cwd") { Description = "external: absolute working directory." };
    private static readonly Option<string[]> EnvOption = new("--env") { Description = "external: NAME=value plain (non-secret) variable (repeatable)." };
    private static readonly Option<string[]> EnvKeyOption = new("--env-key") { Description = "external: KEY=slot-id credential the sidecar may fetch (repeatable)." };
    private static readonly Option<string[]> EnvKeyFromEnvOption = new("--env-key-from-env") { Description = "external: KEY=VAR credential read from the daemon's environment variable VAR (repeatable)." };
    private static readonly Option<string?> IngressFromOption = new("--ingress-from") { Description = "external: the http/slack/telegram connector whose events and deliveries this sidecar handles." };
    private static readonly Option<string?> SigningSecretRefOption = new("--signing-secret-ref") { Description = "slack: slot holding the signing secret." };
    private static readonly Option<string?> SecretTokenRefOption = new("--secret-token-ref") { Description = "telegram: slot holding the webhook secret token." };
    private static readonly Option<string?> BotTokenRefOption = new("--bot-token-ref") { Description = "slack, telegram: slot holding the bot token used for deliveries." };
    private static readonly Option<string?> ApiBaseUrlOption = new("--api-base-url") { Description = "slack, telegram: platform API base URL (default the real one)." };
    private static readonly Option<bool?> EnabledOption = new("--enabled") { Description = "true (default) or false: a disabled connector keeps its definition but runs and accepts nothing." };
    private static readonly Option<bool> RotateOption = new("--rotate-bearer-token") { Description = "http: mint a new ingress bearer token (shown once)." };
    private static readonly Option<bool> DrainOption = new("--drain") { Description = "Remove the events read." };

    public static Command Create()
    {
        var connectors = new Command("connectors", "Connector definitions: sidecars (external) and ingress (http, slack, telegram).");

        var list = new Command("list", "List connectors: settings, secret sources (never values), sidecar state.");
        CommonOptions.AddClientOptions(list);
        list.SetAction((pr, ct) => RunAsync(pr, c => c.GetAsync("/v1/runtime/connectors", ConnectorsWireJsonContext.Default.ConnectorListResponse, ct),
            r => { foreach (ConnectorView v in r.Connectors) { PrintSummary(v); } }, ConnectorsWireJsonContext.Default.ConnectorListResponse));
        connectors.Subcommands.Add(list);

        var get = new Command("get", "Show one connector.");
        AddTarget(get);
        get.SetAction((pr, ct) => WithTarget(pr, path => RunAsync(pr, c => c.GetAsync(path, ConnectorsWireJsonContext.Default.ConnectorView, ct),
            Print, ConnectorsWireJsonContext.Default.ConnectorView)));
        connectors.Subcommands.Add(get);

        var set = new Command("set", "Create or replace a connector from a JSON/TOML file and/or flags. An http connector's bearer token is shown once.");
        AddTarget(set);
        foreach (Option option in new Option[]
        {
            FileOption, CommandOption, ArgOption, CwdOption, EnvOption, EnvKeyOption, EnvKeyFromEnvOption, IngressFromOption,
            SigningSecretRefOption, SecretTokenRefOption, BotTokenRefOption, ApiBaseUrlOption, EnabledOption, RotateOption,
        })
        {
            set.Options.Add(option);
        }

        set.SetAction((pr, ct) => WithTarget(pr, path =>
        {
            if (!ReadInput(pr).TryGetValue(out ConnectorInput? input, out KheishError? error))
            {
                return Task.FromResult(CliOutput.Fail(error, CommonOptions.IsJson(pr)));
            }

            return RunAsync(pr, c => c.SendAsync(HttpMethod.Put, path, DaemonClient.Json(input, ConnectorsWireJsonContext.Default.ConnectorInput),
                ConnectorsWireJsonContext.Default.ConnectorView, ct), Print, ConnectorsWireJsonContext.Default.ConnectorView);
        }));
        connectors.Subcommands.Add(set);

        var delete = new Command("delete", "Delete a connector (its sidecar stops, its inline secret slots are removed).");
        AddTarget(delete);
        delete.SetAction((pr, ct) => WithTarget(pr, path => RunAsync(pr, c => c.SendAsync(HttpMethod.Delete, path, null, ConnectorsWireJsonContext.Default.ConnectorDeletedResponse, ct),
            _ => CliOutput.Out.WriteLine("deleted"), ConnectorsWireJsonContext.Default.ConnectorDeletedResponse)));
        connectors.Subcommands.Add(delete);

        var events = new Command("events", "Show the verified ingress events queued for a connector without a sidecar.");
        AddTarget(events);
        events.Options.Add(DrainOption);
        events.SetAction((pr, ct) => WithTarget(pr, path => RunAsync(pr, c => c.GetAsync(path + "/events" + (pr.GetValue(DrainOption) ? "?drain=true" : ""), ConnectorsWireJsonContext.Default.ConnectorEventsResponse, ct),
            r => { foreach (ConnectorEvent e in r.Events) { CliOutput.Out.WriteLine($"{e.Id} {e.Connector} {e.BodyDigest} {e.Body.Length} chars"); } },
            ConnectorsWireJsonContext.Default.ConnectorEventsResponse)));
        connectors.Subcommands.Add(events);
        return connectors;
    }

    private static void AddTarget(Command command)
    {
        command.Arguments.Add(KindArgument);
        command.Arguments.Add(NameArgument);
        CommonOptions.AddClientOptions(command);
    }

    private static Task<int> WithTarget(ParseResult pr, Func<string, Task<int>> run)
    {
        string kind = pr.GetValue(KindArgument)!;
        string name = pr.GetValue(NameArgument)!;
        KheishError? error = ConnectorKinds.Parse(kind) is null
            ? KheishError.BadRequest("invalid_connector_kind", $"connector kind `{ConnectorName.Printable(kind)}` is not one of {string.Join(", ", ConnectorKinds.Names)}")
            : ConnectorName.CheckName(name);
        return error is null ? run($"/v1/runtime/connectors/{kind}/{name}") : Task.FromResult(CliOutput.Fail(error, CommonOptions.IsJson(pr)));
    }

    private static async Task<int> RunAsync<T>(
        ParseResult pr, Func<DaemonClient, Task<Result<T>>> call, Action<T> print, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
    {
        bool json = CommonOptions.IsJson(pr);
        if (pr.GetValue(CommonOptions.Offline))
        {
            return CliOutput.Fail(KheishError.BadRequest("offline_not_supported", "connectors are managed by the running daemon; drop --offline"), json);
        }

        if (!CommonOptions.CreateClient(pr).TryGetValue(out DaemonClient? client, out KheishError? error))
        {
            return CliOutput.Fail(error, json);
        }

        using (client)
        {
            if (!(await call(client).ConfigureAwait(false)).TryGetValue(out T? value, out error))
            {
                return CliOutput.Fail(error, json);
            }

            if (json)
            {
                CliOutput.WriteJson(value, type);
            }
            else
            {
                print(value);
            }

            return ExitCodes.Ok;
        }
    }

    private static Result<ConnectorInput> ReadInput(ParseResult pr)
    {
        ConnectorInput input = new();
        if (pr.GetValue(FileOption) is { } file)
        {
            byte[] bytes;
            try
            {
                bytes = File.ReadAllBytes(file);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                return KheishError.BadRequest("file_unreadable", $"cannot read {file}: {ex.GetType().Name}");
            }

            if (file.EndsWith(".toml", StringComparison.OrdinalIgnoreCase))
            {
                if (!TomlReader.Read(bytes, file).TryGetValue(out TomlTable? table, out KheishError? tomlError))
                {
                    return tomlError;
                }

                bytes = Encoding.UTF8.GetBytes(ToJson(table));
            }

            try
            {
                input = JsonSerializer.Deserialize(bytes, ConnectorsWireJsonContext.Default.ConnectorInput)
                    ?? throw new JsonException("null");
            }
            catch (JsonException ex)
            {
                string where = string.IsNullOrEmpty(ex.Path) || ex.Path == "$" ? "" : $" at {ex.Path}";
                return KheishError.BadRequest("invalid_file", $"{file} is not a connector definition{where} (unknown field or wrong type)");
            }
        }

        if (!Pairs(pr.GetValue(EnvOption), "--env").TryGetValue(out var env, out KheishError? error)
            || !Pairs(pr.GetValue(EnvKeyOption), "--env-key").TryGetValue(out var refs, out error)
            || !Pairs(pr.GetValue(EnvKeyFromEnvOption), "--env-key-from-env").TryGetValue(out var fromEnv, out error))
        {
            return error;
        }

        Dictionary<string, ConnectorSecretInput>? envKeys = input.EnvKeys;
        if (refs.Count + fromEnv.Count > 0)
        {
            envKeys = new Dictionary<string, ConnectorSecretInput>(envKeys ?? [], StringComparer.Ordinal);
            foreach (var (k, v) in refs)
            {
                envKeys[k] = new ConnectorSecretInput(SecretRef: v);
            }

            foreach (var (k, v) in fromEnv)
            {
                envKeys[k] = new ConnectorSecretInput(Env: v);
            }
        }

        string[] args = pr.GetValue(ArgOption) ?? [];
        return input with
        {
            Command = pr.GetValue(CommandOption) ?? input.Command,
            Args = args.Length > 0 ? args : input.Args,
            Cwd = pr.GetValue(CwdOption) ?? input.Cwd,
            Env = env.Count > 0 ? new Dictionary<string, string>(input.Env ?? [], StringComparer.Ordinal).Also(env) : input.Env,
            EnvKeys = envKeys,
            IngressFrom = pr.GetValue(IngressFromOption) ?? input.IngressFrom,
            SigningSecret = pr.GetValue(SigningSecretRefOption) is { } s ? new ConnectorSecretInput(SecretRef: s) : input.SigningSecret,
            SecretToken = pr.GetValue(SecretTokenRefOption) is { } t ? new ConnectorSecretInput(SecretRef: t) : input.SecretToken,
            BotToken = pr.GetValue(BotTokenRefOption) is { } b ? new ConnectorSecretInput(SecretRef: b) : input.BotToken,
            ApiBaseUrl = pr.GetValue(ApiBaseUrlOption) ?? input.ApiBaseUrl,
            Enabled = pr.GetValue(EnabledOption) ?? input.Enabled,
            RotateBearerToken = pr.GetValue(RotateOption) ? true : input.RotateBearerToken,
        };
    }

    private static Dictionary<string, string> Also(this Dictionary<string, string> into, Dictionary<string, string> more)
    {
        foreach (var (k, v) in more)
        {
            into[k] = v;
        }

        return into;
    }

    private static Result<Dictionary<string, string>> Pairs(string[]? values, string flag)
    {
        var pairs = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string value in values ?? [])
        {
            int eq = value.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                return KheishError.BadRequest("invalid_flag", $"{flag} takes NAME=VALUE");
            }

            pairs[value[..eq]] = value[(eq + 1)..];
        }

        return pairs;
    }

    /// <summary>Plain JSON of a TOML document (strings, integers, booleans, arrays, tables; dates and floats as text).</summary>
    private static string ToJson(TomlTable table)
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream))
        {
            Write(writer, table);
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private static void Write(Utf8JsonWriter writer, object value)
    {
        switch (value)
        {
            case TomlTable t:
                writer.WriteStartObject();
                foreach (var (k, v) in t)
                {
                    writer.WritePropertyName(k);
                    Write(writer, v);
                }

                writer.WriteEndObject();
                break;
            case TomlArray a:
                writer.WriteStartArray();
                foreach (object item in a)
                {
                    Write(writer, item);
                }

                writer.WriteEndArray();
                break;
            case string s:
                writer.WriteStringValue(s);
                break;
            case long l:
                writer.WriteNumberValue(l);
                break;
            case bool b:
                writer.WriteBooleanValue(b);
                break;
            default:
                writer.WriteStringValue(Convert.ToString(value, CultureInfo.InvariantCulture));
                break;
        }
    }

    private static void PrintSummary(ConnectorView v) =>
        CliOutput.Out.WriteLine($"{v.Kind.Name() + "/" + v.Name,-32} {(v.Enabled ? "enabled" : "disabled"),-9} {v.Sidecar?.State ?? (v.QueuedEvents is { } q ? q.ToString(CultureInfo.InvariantCulture) + " queued" : "")}");

    private static void Print(ConnectorView v)
    {
        Line("connector", v.Kind.Name() + "/" + v.Name);
        Line("enabled", v.Enabled ? "yes" : "no");
        if (v.Command is not null)
        {
            Line("command", string.Join(' ', [v.Command, .. v.Args ?? []]));
        }

        foreach (var (k, s) in v.EnvKeys ?? new Dictionary<string, ConnectorSecretView>())
        {
            Line("env key " + k, Source(s));
        }

        foreach (var (label, s) in new[] { ("signing_secret", v.SigningSecret), ("secret_token", v.SecretToken), ("bot_token", v.BotToken) })
        {
            if (s is not null)
            {
                Line(label, Source(s));
            }
        }

        if (v.IngressFrom is not null)
        {
            Line("ingress from", v.IngressFrom);
        }

        if (v.Sidecar is { } sc)
        {
            Line("sidecar", $"{sc.State}{(sc.Pid is { } pid ? " pid " + pid.ToString(CultureInfo.InvariantCulture) : "")}, restarts {sc.Restarts.ToString(CultureInfo.InvariantCulture)}{(sc.LastError is { } e ? ", " + e : "")}");
        }

        if (v.BearerToken is { } token)
        {
            Line("bearer_token", token + "   (shown once: store it now)");
        }
    }

    private static string Source(ConnectorSecretView s) => s.Source + (s.SecretRef is { } r ? " " + r : "") + (s.Env is { } e ? " $" + e : "");

    private static void Line(string label, string value) => CliOutput.Out.WriteLine($"{label,-17} {value}");
}
