using System.Buffers;
using Kheish.Core.Errors;
using Kheish.Core.Toml;

namespace Kheish.Core.Routes;

/// <summary>
/// The routes file (Kheish reference §7): reading, validating and resolving it against the
/// secret store and the environment. <see cref="LoadAndCheck"/> is the single entry point for
/// <c>routes check</c> and <c>serve</c>; it collects every problem instead of stopping at the first.
/// </summary>
internal static class RoutesFile
{
    /// <summary>The problem reported for an auth_ref whose slot could not be looked up at all.</summary>
    public const string AuthRefUnverifiableCode = "routes_auth_ref_unverifiable";

    /// <summary>Routes files are small; anything bigger is a mistake, not a configuration.</summary>
    public const int MaxBytes = 1 << 20;

    public const int SupportedVersion = 1;

    private static readonly SearchValues<char> PrintableFieldChars =
        SearchValues.Create("abcdefghijklmnopqrstuvwxyz0123456789_");

    private static readonly HashSet<string> TopLevelFields = new(StringComparer.Ordinal) { "version", "default_route", "routes" };

    private static readonly HashSet<string> RouteFields = new(StringComparer.Ordinal)
    {
        "driver", "default_model", "model_support", "auth_ref", "api_key", "api_key_env", "base_url",
        "organization", "organization_env", "project", "project_env", "anthropic_version", "anthropic_beta_headers",
    };

    /// <summary>
    /// Reads, validates and resolves a routes file. <paramref name="defaultRouteOverride"/> is
    /// <c>serve --default-route</c>; <paramref name="environment"/> defaults to the process environment.
    /// </summary>
    public static RoutesCheckResult LoadAndCheck(
        string path,
        IAuthRefCatalog catalog,
        string? defaultRouteOverride = null,
        Func<string, string?>? environment = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        byte[] bytes;
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists)
            {
                return Failed(path, new RouteProblem("routes_file_missing", "the file does not exist"));
            }

            if (info.Length > MaxBytes)
            {
                return Failed(path, new RouteProblem("routes_file_too_large", $"the file is larger than {MaxBytes} bytes"));
            }

            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return Failed(path, new RouteProblem("routes_file_unreadable", $"the file cannot be read ({Kheish.Core.Errors.IoReason.Of(ex)})"));
        }

        RoutesCheckResult result = Check(bytes, path, catalog, defaultRouteOverride, environment);
        return result with { Warnings = ExposureWarnings(path, result) };
    }

    /// <summary>An inline api_key in a file other users can read is a leak waiting to happen; say so (not fatal: the operator owns the file).</summary>
    private static string[] ExposureWarnings(string path, RoutesCheckResult result)
    {
        if (result.Config is null || !result.Config.Routes.Any(r => r.Credential is RouteCredential.InlineApiKey))
        {
            return [];
        }

        try
        {
            UnixFileMode mode = File.GetUnixFileMode(path);
            if ((mode & (UnixFileMode.GroupRead | UnixFileMode.OtherRead)) != 0)
            {
                return [$"routes file {path} holds an inline api_key and is readable by other users (mode {Convert.ToString((int)mode, 8)}); chmod 600 it, or use auth_ref / api_key_env"];
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // The file was just read; a failing stat only loses the warning.
        }

        return [];
    }

    /// <summary>Validates and resolves routes-file content; <paramref name="source"/> names it in messages.</summary>
    public static RoutesCheckResult Check(
        ReadOnlySpan<byte> utf8,
        string source,
        IAuthRefCatalog catalog,
        string? defaultRouteOverride = null,
        Func<string, string?>? environment = null)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        if (utf8.Length > MaxBytes)
        {
            return Failed(source, new RouteProblem("routes_file_too_large", $"the file is larger than {MaxBytes} bytes"));
        }

        if (!TomlReader.TryParse(utf8, out TomlTable? document, out TomlError? syntax))
        {
            return Failed(source, new RouteProblem(TomlError.Code, $"not valid TOML: {syntax}"));
        }

        var problems = new List<RouteProblem>();
        RoutesConfig? config = Validate(document, defaultRouteOverride, problems, out List<References> references);
        Resolve(references, catalog, environment ?? Environment.GetEnvironmentVariable, problems);
        return new RoutesCheckResult(source, problems.Count == 0 ? config : null, problems);
    }

    private static RoutesCheckResult Failed(string source, RouteProblem problem) => new(source, null, [problem]);

    // ------------------------------------------------------------------ validation (the file alone)

    private static RoutesConfig? Validate(
        TomlTable document,
        string? defaultRouteOverride,
        List<RouteProblem> problems,
        out List<References> references)
    {
        var routes = new List<RouteDefinition>();
        references = [];
        foreach (string key in document.Keys)
        {
            if (!TopLevelFields.Contains(key))
            {
                problems.Add(new RouteProblem("routes_unknown_field", $"unknown top-level field {Show(key)} (allowed: version, default_route, [routes.<id>])", Field: Showable(key) ? key : null));
            }
        }

        int version = ValidateVersion(document, problems);

        if (!document.TryGetValue("routes", out object? routesValue))
        {
            problems.Add(new RouteProblem("routes_empty", "no routes defined: add at least one [routes.<id>] table", Field: "routes"));
        }
        else if (routesValue is not TomlTable routesTable)
        {
            problems.Add(new RouteProblem("routes_type", "`routes` must be a table of [routes.<id>] tables", Field: "routes"));
        }
        else if (routesTable.Count == 0)
        {
            problems.Add(new RouteProblem("routes_empty", "no routes defined: add at least one [routes.<id>] table", Field: "routes"));
        }
        else
        {
            int index = 0;
            foreach (KeyValuePair<string, object> entry in routesTable)
            {
                index++;
                if (!RouteId.TryParse(entry.Key, out RouteId id, out string? idProblem))
                {
                    problems.Add(new RouteProblem("routes_bad_id", $"route #{index} under [routes] has an invalid id: {idProblem}"));
                    continue;
                }

                if (entry.Value is not TomlTable fields)
                {
                    problems.Add(new RouteProblem("routes_type", $"route `{id}` must be a table ([routes.{id}])", id.Value));
                    continue;
                }

                if (ValidateRoute(id, fields, problems, references) is { } route)
                {
                    routes.Add(route);
                }
            }
        }

        RouteId? defaultRoute = ValidateDefaultRoute(document, defaultRouteOverride, routesValue as TomlTable, problems);
        return problems.Count == 0 && defaultRoute is { } d ? new RoutesConfig(version, d, routes) : null;
    }

    private static int ValidateVersion(TomlTable document, List<RouteProblem> problems)
    {
        if (!document.TryGetValue("version", out object? value))
        {
            problems.Add(new RouteProblem("routes_version", $"`version` is required (version = {SupportedVersion})", Field: "version"));
            return 0;
        }

        if (value is not long v)
        {
            problems.Add(new RouteProblem("routes_version", $"`version` must be the integer {SupportedVersion}", Field: "version"));
            return 0;
        }

        if (v != SupportedVersion)
        {
            problems.Add(new RouteProblem("routes_version", $"routes file version {v} is not supported (this daemon reads version {SupportedVersion})", Field: "version"));
            return 0;
        }

        return (int)v;
    }

    private static RouteId? ValidateDefaultRoute(TomlTable document, string? overrideValue, TomlTable? routesTable, List<RouteProblem> problems)
    {
        string? name;
        string origin;
        if (overrideValue is not null)
        {
            name = overrideValue;
            origin = "--default-route";
        }
        else if (document.TryGetValue("default_route", out object? value))
        {
            origin = "`default_route`";
            name = value as string;
            if (name is null)
            {
                problems.Add(new RouteProblem("routes_default", "`default_route` must be a string naming a route", Field: "default_route"));
                return null;
            }
        }
        else
        {
            if (routesTable is { Count: 1 } && RouteId.TryParse(routesTable.GetAt(0).Key, out RouteId only, out _))
            {
                return only;
            }

            if (routesTable is { Count: > 1 })
            {
                problems.Add(new RouteProblem("routes_default", "`default_route` is required when more than one route is defined", Field: "default_route"));
            }

            return null;
        }

        if (!RouteId.TryParse(name, out RouteId id, out string? reason))
        {
            problems.Add(new RouteProblem("routes_default", $"{origin} is not a valid route id: {reason}", Field: "default_route"));
            return null;
        }

        if (routesTable is null || !routesTable.ContainsKey(id.Value))
        {
            problems.Add(new RouteProblem("routes_default", $"{origin} names route {Echo(id.Value)}, which is not defined", LooksLikeAKey(id.Value) ? null : id.Value, "default_route"));
            return null;
        }

        return id;
    }

    private static RouteDefinition? ValidateRoute(RouteId id, TomlTable fields, List<RouteProblem> problems, List<References> references)
    {
        int before = problems.Count;
        var reader = new FieldReader(id, fields, problems);
        foreach (string key in fields.Keys)
        {
            if (!RouteFields.Contains(key))
            {
                problems.Add(new RouteProblem("routes_unknown_field", $"route `{id}`: unknown field {Show(key)}", id.Value, Showable(key) ? key : null));
            }
        }

        string? driverName = reader.String("driver");
        ProviderDriver? driver = null;
        if (driverName is null)
        {
            reader.Missing("driver", "one of anthropic, google, openai, openrouter, xai");
        }
        else if (!ProviderDriver.TryParse(driverName, out ProviderDriver parsed))
        {
            reader.Invalid("driver", "must be one of anthropic, google, openai, openrouter, xai");
        }
        else
        {
            driver = parsed;
        }

        string? model = reader.String("default_model");
        if (model is null)
        {
            reader.Missing("default_model", "the model used when a request names none");
        }

        var modelSupport = ModelSupport.Family;
        if (reader.String("model_support") is { } support)
        {
            if (support == "family")
            {
                modelSupport = ModelSupport.Family;
            }
            else if (support == "any")
            {
                modelSupport = ModelSupport.Any;
            }
            else
            {
                reader.Invalid("model_support", "must be `family` or `any`");
            }
        }

        RouteCredential? credential = ValidateCredential(reader);
        RouteSetting? organization = reader.Setting("organization", "organization_env");
        RouteSetting? project = reader.Setting("project", "project_env");
        string? anthropicVersion = reader.String("anthropic_version", headerValue: true);
        IReadOnlyList<string> betaHeaders = reader.StringArray("anthropic_beta_headers");

        if (driver is not null && driver != ProviderDriver.OpenAI)
        {
            reader.OnlyFor("organization", "openai");
            reader.OnlyFor("organization_env", "openai");
            reader.OnlyFor("project", "openai");
            reader.OnlyFor("project_env", "openai");
        }

        if (driver is not null && driver != ProviderDriver.Anthropic)
        {
            reader.OnlyFor("anthropic_version", "anthropic");
            reader.OnlyFor("anthropic_beta_headers", "anthropic");
        }

        Uri? baseUrl = driver?.DefaultBaseUrl;
        if (reader.String("base_url") is { } rawUrl)
        {
            baseUrl = ValidateBaseUrl(rawUrl, reader);
        }

        references.Add(new References(id, driver, credential, organization, project));
        if (problems.Count != before || driver is null || model is null || credential is null || baseUrl is null)
        {
            return null;
        }

        return new RouteDefinition(id, driver, model, modelSupport, credential, baseUrl, organization, project, anthropicVersion, betaHeaders);
    }

    private static RouteCredential? ValidateCredential(FieldReader reader)
    {
        bool hasRef = reader.Has("auth_ref");
        bool hasKey = reader.Has("api_key");
        bool hasEnv = reader.Has("api_key_env");
        if (hasRef && hasKey)
        {
            reader.Conflict("auth_ref", "api_key");
        }

        if (hasRef && hasEnv)
        {
            reader.Conflict("auth_ref", "api_key_env");
        }

        if (hasKey && hasEnv)
        {
            reader.Conflict("api_key", "api_key_env");
        }

        if (!hasRef && !hasKey && !hasEnv)
        {
            reader.Problem("routes_no_credential", null, "has no credential: set one of auth_ref, api_key, api_key_env");
            return null;
        }

        string? slot = reader.String("auth_ref");
        string? key = reader.String("api_key", headerValue: true);
        string? env = reader.EnvironmentName("api_key_env");
        if ((hasRef ? 1 : 0) + (hasKey ? 1 : 0) + (hasEnv ? 1 : 0) != 1)
        {
            return null;
        }

        if (slot is not null)
        {
            return new RouteCredential.AuthRef(slot);
        }

        if (key is not null)
        {
            return new RouteCredential.InlineApiKey(key);
        }

        return env is not null ? new RouteCredential.EnvApiKey(env) : null;
    }

    /// <summary>http(s), a host, no user info, no query, no fragment. The URL itself is never echoed: it may embed a credential.</summary>
    private static Uri? ValidateBaseUrl(string raw, FieldReader reader)
    {
        if (!Uri.TryCreate(raw, UriKind.Absolute, out Uri? uri))
        {
            reader.Invalid("base_url", "is not an absolute URL");
            return null;
        }

        string? reason = null;
        if (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
        {
            reason = "must use http or https";
        }
        else if (string.IsNullOrEmpty(uri.Host))
        {
            reason = "must name a host";
        }
        else if (uri.UserInfo.Length > 0 || raw.Contains('@', StringComparison.Ordinal))
        {
            reason = "must not contain user info (put credentials in auth_ref, api_key or api_key_env)";
        }
        else if (uri.Query.Length > 0 || raw.Contains('?', StringComparison.Ordinal))
        {
            reason = "must not contain a query";
        }
        else if (uri.Fragment.Length > 0 || raw.Contains('#', StringComparison.Ordinal))
        {
            reason = "must not contain a fragment";
        }

        if (reason is not null)
        {
            reader.Invalid("base_url", reason);
            return null;
        }

        return uri;
    }

    // ------------------------------------------------------------------ resolution (store and environment)

    /// <summary>What a route points at outside the file; kept even for a route with other problems, so every problem is reported at once.</summary>
    private sealed record References(RouteId Id, ProviderDriver? Driver, RouteCredential? Credential, RouteSetting? Organization, RouteSetting? Project);

    private static void Resolve(List<References> routes, IAuthRefCatalog catalog, Func<string, string?> environment, List<RouteProblem> problems)
    {
        foreach (References route in routes)
        {
            string id = route.Id.Value;
            switch (route.Credential)
            {
                case RouteCredential.AuthRef authRef:
                    if (catalog.UnavailableReason is { } unavailable)
                    {
                        problems.Add(new RouteProblem(AuthRefUnverifiableCode, $"route `{id}` references auth_ref {Echo(authRef.SlotId)}, which cannot be verified: {unavailable}", id, "auth_ref"));
                    }
                    else if (catalog.ProviderOf(authRef.SlotId) is not { } provider)
                    {
                        problems.Add(new RouteProblem("routes_auth_ref_missing", $"route `{id}` references missing auth_ref {Echo(authRef.SlotId)}", id, "auth_ref"));
                    }
                    else if (route.Driver is not null && !string.Equals(provider, route.Driver.Name, StringComparison.Ordinal))
                    {
                        problems.Add(new RouteProblem("routes_auth_ref_provider", $"route `{id}` (driver {route.Driver.Name}) references auth_ref {Echo(authRef.SlotId)}, a slot of provider {Show(provider)}", id, "auth_ref"));
                    }
                    else if (route.Driver is not null && !Accounts.AccountRouteHeaders.DriverTakesAccounts(route.Driver)
                        && catalog.ModeOf(authRef.SlotId) == "oauth_account")
                    {
                        // OpenRouter (and Google, xAI) have no account login to import: their slots hold API keys.
                        problems.Add(new RouteProblem("routes_auth_ref_account", $"route `{id}` (driver {route.Driver.Name}) references auth_ref {Echo(authRef.SlotId)}, an oauth_account slot; {route.Driver.Name} routes take API-key slots only", id, "auth_ref"));
                    }

                    break;
                case RouteCredential.EnvApiKey env:
                    RequireEnvironment(id, "api_key_env", env.VariableName, environment, problems);
                    break;
            }

            if (route.Organization is RouteSetting.FromEnvironment org)
            {
                RequireEnvironment(id, "organization_env", org.VariableName, environment, problems);
            }

            if (route.Project is RouteSetting.FromEnvironment project)
            {
                RequireEnvironment(id, "project_env", project.VariableName, environment, problems);
            }
        }
    }

    private static void RequireEnvironment(string route, string field, string variable, Func<string, string?> environment, List<RouteProblem> problems)
    {
        if (string.IsNullOrEmpty(environment(variable)))
        {
            problems.Add(new RouteProblem("routes_env_missing", $"route `{route}`: {field} names environment variable {Echo(variable)}, which is not set", route, field));
        }
    }

    /// <summary>
    /// A name from the file is echoed only when it looks like a snake_case field name: a key pasted
    /// where a field name belongs (<c>sk-... = "x"</c>) must not reach the output.
    /// </summary>
    private static bool Showable(string name) =>
        name.Length is > 0 and <= 40 && !name.AsSpan().ContainsAnyExcept(PrintableFieldChars);

    /// <summary>
    /// Values echoed in messages (slot ids, variable names, route names) are names, not secrets;
    /// but a key pasted into the wrong field would be echoed, so anything that looks like one is not.
    /// </summary>
    private static bool LooksLikeAKey(string value) =>
        value.Length > 48
        || value.StartsWith("sk-", StringComparison.OrdinalIgnoreCase)
        || value.StartsWith("sk_", StringComparison.OrdinalIgnoreCase)
        || value.StartsWith("xai-", StringComparison.OrdinalIgnoreCase)
        || value.StartsWith("AIza", StringComparison.Ordinal)
        || value.StartsWith("gsk_", StringComparison.Ordinal)
        || value.StartsWith("ghp_", StringComparison.Ordinal)
        || value.StartsWith("github_pat_", StringComparison.Ordinal);

    private static string Echo(string value) =>
        LooksLikeAKey(value) ? "(value not shown: it looks like an API key, which belongs in api_key or api_key_env's variable)" : $"`{value}`";

    private static string Show(string name) =>
        Showable(name) ? $"`{name}`" : "(name not shown: it does not look like a field name)";

    /// <summary>Typed access to one route's fields that records a problem for each wrong type or value.</summary>
    private sealed class FieldReader(RouteId id, TomlTable fields, List<RouteProblem> problems)
    {
        public bool Has(string field) => fields.ContainsKey(field);

        public string? String(string field, bool headerValue = false)
        {
            if (!fields.TryGetValue(field, out object? value))
            {
                return null;
            }

            if (value is not string s)
            {
                Invalid(field, "must be a string");
                return null;
            }

            if (s.Length == 0)
            {
                Invalid(field, "must not be empty");
                return null;
            }

            if (headerValue && !RouteValues.IsHeaderSafe(s))
            {
                Invalid(field, "contains characters not allowed in an HTTP header (control characters, non-ASCII, or surrounding spaces)");
                return null;
            }

            return s;
        }

        public string? EnvironmentName(string field)
        {
            string? name = String(field);
            if (name is not null && !RouteValues.IsEnvironmentVariableName(name))
            {
                Invalid(field, "must be an environment variable name (letters, digits, underscore)");
                return null;
            }

            return name;
        }

        public List<string> StringArray(string field)
        {
            if (!fields.TryGetValue(field, out object? value))
            {
                return [];
            }

            if (value is not TomlArray array)
            {
                Invalid(field, "must be an array of strings");
                return [];
            }

            var result = new List<string>(array.Count);
            foreach (object item in array)
            {
                if (item is not string s || !RouteValues.IsHeaderSafe(s) || s.Contains(',', StringComparison.Ordinal))
                {
                    Invalid(field, "must be an array of non-empty header tokens (printable ASCII, no commas)");
                    return [];
                }

                result.Add(s);
            }

            return result;
        }

        public RouteSetting? Setting(string literalField, string envField)
        {
            bool hasLiteral = Has(literalField);
            bool hasEnv = Has(envField);
            if (hasLiteral && hasEnv)
            {
                Conflict(literalField, envField);
                return null;
            }

            if (hasLiteral)
            {
                return String(literalField, headerValue: true) is { } s ? new RouteSetting.Literal(s) : null;
            }

            return hasEnv && EnvironmentName(envField) is { } name ? new RouteSetting.FromEnvironment(name) : null;
        }

        public void OnlyFor(string field, string driver)
        {
            if (Has(field))
            {
                Problem("routes_field_not_applicable", field, $"{field} applies only to the {driver} driver");
            }
        }

        public void Missing(string field, string what) =>
            Problem("routes_missing_field", field, $"missing required field {field} ({what})");

        public void Invalid(string field, string reason) =>
            Problem("routes_invalid_field", field, $"{field} {reason}");

        public void Conflict(string a, string b) =>
            Problem("routes_conflicting_fields", a, $"{a} and {b} cannot both be set");

        public void Problem(string code, string? field, string text) =>
            problems.Add(new RouteProblem(code, $"route `{id}`: {text}", id.Value, field));
    }
}

/// <summary>The outcome of <see cref="RoutesFile.LoadAndCheck"/>: the routes when usable, and every problem found.</summary>
internal sealed record RoutesCheckResult(string? Source, RoutesConfig? Config, IReadOnlyList<RouteProblem> Problems)
{
    public const string Code = "routes_invalid";

    /// <summary>Things worth fixing that do not make the file unusable.</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];

    [System.Diagnostics.CodeAnalysis.MemberNotNullWhen(true, nameof(Config))]
    public bool IsOk => Config is not null && Problems.Count == 0;

    /// <summary>All problems as one error (exit code 2 / HTTP 400), one per line.</summary>
    public KheishError ToError()
    {
        string head = Problems.Count == 1 ? "the routes file has a problem" : $"the routes file has {Problems.Count} problems";
        if (Source is not null)
        {
            head = $"routes file {Source}: " + (Problems.Count == 1 ? "1 problem" : $"{Problems.Count} problems");
        }

        return KheishError.BadRequest(Code, head + Environment.NewLine + string.Join(Environment.NewLine, Problems.Select(p => "  - " + p.Message)));
    }
}
