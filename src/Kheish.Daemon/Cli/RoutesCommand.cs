using System.CommandLine;
using System.Text.Json.Serialization;
using Kheish.Core.Routes;
using Kheish.Core.Storage;

namespace Kheish.Daemon.Cli;

/// <summary><c>kheish-daemon routes check</c>: validates a routes file and everything it references, as <c>serve</c> does at startup.</summary>
internal static class RoutesCommand
{
    private static readonly Option<string> RoutesFileOption = new("--routes-file")
    {
        Description = "The routes file (TOML, format in the README section \"Routes file\").",
        Required = true,
    };

    public static Command Create()
    {
        var command = new Command("routes", "Provider routes: which upstream, model and credential each route uses.");
        var check = new Command(
            "check",
            "Validate a routes file and its references (auth_ref slots exist and match the driver, env-backed keys are set). " +
            "Prints each route (never a key) or every problem found; exit 0 when usable, 2 when the file has a problem, 3 when the daemon holding the slots cannot be reached (try --offline).");
        check.Options.Add(RoutesFileOption);
        CommonOptions.AddClientOptions(check);
        check.SetAction(static (parseResult, _) => Task.FromResult(Check(parseResult)));
        command.Subcommands.Add(check);
        return command;
    }

    private static int Check(ParseResult parseResult)
    {
        string path = parseResult.GetValue(RoutesFileOption)!;
        bool json = CommonOptions.IsJson(parseResult);
        IAuthRefCatalog catalog = AuthRefCatalogs.For(parseResult);
        RoutesCheckResult result = RoutesFile.LoadAndCheck(path, catalog);
        foreach (string warning in result.Warnings)
        {
            CliOutput.Warn(warning);
        }

        if (!result.IsOk)
        {
            var error = result.ToError();
            int exitCode = ExitCodes.For(error.Kind);
            // When the file itself is fine and only the slots could not be looked up, the exit code
            // is the lookup's (3: daemon unreachable, 4: token refused), not "bad file".
            if (catalog is UnverifiableAuthRefCatalog { Cause: { } cause }
                && result.Problems.All(p => p.Code == RoutesFile.AuthRefUnverifiableCode))
            {
                exitCode = ExitCodes.For(cause.Kind);
                CliOutput.Error.WriteLine($"error: {cause.Message}");
            }

            if (!json)
            {
                return CliOutput.Fail(error, json: false, exitCode);
            }

            CliOutput.WriteJson(
                new RoutesCheckReport(false, path, null, [], [.. result.Problems.Select(p => new RoutesProblemView(p.Code, p.Message, p.Route, p.Field))], result.Warnings, new CliError(error.Code, error.Message)),
                RoutesCliJsonContext.Default.RoutesCheckReport);
            CliOutput.Error.WriteLine($"error: {error.Message}");
            return exitCode;
        }

        RoutesConfig config = result.Config;
        if (json)
        {
            CliOutput.WriteJson(
                new RoutesCheckReport(true, path, config.DefaultRoute.Value, [.. config.Routes.Select(r => Summarize(r, config))], [], result.Warnings, null),
                RoutesCliJsonContext.Default.RoutesCheckReport);
            return ExitCodes.Ok;
        }

        TextWriter o = CliOutput.Out;
        o.WriteLine($"routes file {path}: version {config.Version}, {config.Routes.Count} route{(config.Routes.Count == 1 ? "" : "s")}, default route `{config.DefaultRoute}`");
        foreach (RouteDefinition route in config.Routes)
        {
            o.WriteLine();
            o.WriteLine(route.Id == config.DefaultRoute ? $"{route.Id} (default)" : route.Id.Value);
            o.WriteLine($"  driver:    {route.Driver.Name}");
            o.WriteLine($"  model:     {route.DefaultModel} (model_support {(route.ModelSupport == ModelSupport.Any ? "any" : "family")})");
            o.WriteLine($"  base_url:  {route.BaseUrlText}");
            o.WriteLine($"  auth:      {route.Credential}");
        }

        return ExitCodes.Ok;
    }

    private static RouteSummary Summarize(RouteDefinition route, RoutesConfig config) => new(
        route.Id.Value,
        route.Driver.Name,
        route.DefaultModel,
        route.ModelSupport == ModelSupport.Any ? "any" : "family",
        route.BaseUrlText,
        route.Credential.Field,
        (route.Credential as RouteCredential.AuthRef)?.SlotId,
        (route.Credential as RouteCredential.EnvApiKey)?.VariableName,
        route.Id == config.DefaultRoute);
}

internal sealed record RoutesCheckReport(
    bool Ok,
    string RoutesFile,
    string? DefaultRoute,
    IReadOnlyList<RouteSummary> Routes,
    IReadOnlyList<RoutesProblemView> Problems,
    IReadOnlyList<string> Warnings,
    CliError? Error);

/// <summary>A route as <c>routes check</c> shows it: where its key comes from, never the key.</summary>
internal sealed record RouteSummary(
    string Id,
    string Driver,
    string DefaultModel,
    string ModelSupport,
    string BaseUrl,
    string AuthSource,
    string? AuthRef,
    string? ApiKeyEnv,
    bool IsDefault);

internal sealed record RoutesProblemView(string Code, string Message, string? Route, string? Field);

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    WriteIndented = false)]
[JsonSerializable(typeof(RoutesCheckReport))]
internal sealed partial class RoutesCliJsonContext : JsonSerializerContext;
