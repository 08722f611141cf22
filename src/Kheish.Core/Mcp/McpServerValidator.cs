using System.Net;
using Kheish.Core.Accounts;
using Kheish.Core.Secrets;
using Kheish.Core.Text;

namespace Kheish.Core.Mcp;

/// <summary>
/// The rules every server definition obeys, wherever it comes from (TOML file, HTTP, CLI):
/// stdio and HTTP fields never mix; one source per header; an explicit <c>Authorization</c>
/// header never combines with managed auth; <c>inherit_env</c> is refused (children run with a
/// cleared environment); every slot reference is well formed and, when a lookup is given, exists.
/// </summary>
internal static class McpServerValidator
{
    public const int MaxNameLength = 64;
    public const int MaxTimeoutSec = 3600;

    /// <summary>Environment variables every stdio child gets from the daemon's own environment (values, not secrets).</summary>
    public static readonly IReadOnlyList<string> PassThroughEnv = ["PATH", "HOME", "LANG", "TMPDIR", "TMP", "TEMP"];

    public static bool IsValidName(string? name) =>
        !string.IsNullOrEmpty(name) && name.Length <= MaxNameLength
        && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_')
        && !name.Contains("__", StringComparison.Ordinal) && !name.StartsWith('_') && !name.EndsWith('_');

    public static void Validate(McpServerDefinition def, List<McpProblem> problems, Func<string, bool>? slotExists = null)
    {
        string s = def.Name;
        void Add(string code, string message) => problems.Add(new McpProblem(code, $"mcp server `{Printable(s)}`: {message}", IsValidName(s) ? s : null));

        if (!IsValidName(s))
        {
            Add("mcp_server_name_invalid", $"a server name is 1-{MaxNameLength} letters, digits, '-' or '_' (no '__', not starting or ending with '_'): tools are exposed as <server>__<tool>");
        }

        bool stdio = def.Command is not null;
        bool http = def.Url is not null;
        if (stdio == http)
        {
            Add("mcp_server_transport", "give exactly one of `command` (stdio) or `url` (streamable HTTP)");
        }

        if (stdio)
        {
            foreach (string field in HttpFieldsSet(def))
            {
                Add("mcp_server_fields_mixed", $"`{field}` is an HTTP field and cannot be combined with `command` (stdio)");
            }

            ValidateStdio(def, Add);
        }

        if (http)
        {
            foreach (string field in StdioFieldsSet(def))
            {
                Add("mcp_server_fields_mixed", $"`{field}` is a stdio field and cannot be combined with `url` (HTTP)");
            }

            ValidateHttp(def, Add);
        }

        if (def.InheritEnv == true)
        {
            Add("mcp_inherit_env_refused", def.EnvSecretRefs is { Count: > 0 }
                ? "`inherit_env = true` cannot be combined with `env_secret_refs`: a child holding credentials runs with a cleared environment"
                : "`inherit_env = true` is not supported: stdio servers run with a cleared environment; list what they need in `env` or `env_secret_refs`");
        }

        CheckTimeout("startup_timeout_sec", def.StartupTimeoutSec, Add);
        CheckTimeout("tool_timeout_sec", def.ToolTimeoutSec, Add);
        CheckTimeout("approval_timeout_sec", def.ApprovalTimeoutSec, Add);
        foreach ((string code, string message) in Kheish.Core.Policy.PolicyHook.Check(def.Hooks))
        {
            Add(code, message);
        }

        foreach ((string code, string message) in Kheish.Core.Policy.ToolPolicy.Check(def.ToolPolicy, hooks: [.. def.Hooks?.Keys ?? []]))
        {
            Add(code, message);
        }

        foreach (var (field, slot) in RefsWithFields(def))
        {
            if (!SlotId.Parse(slot).IsOk)
            {
                Add("mcp_secret_ref_invalid", $"`{field}` is not a valid slot id (1-128 of A-Z a-z 0-9 . _ : -)");
            }
            else if (slotExists is not null && !slotExists(slot))
            {
                problems.Add(new McpProblem("mcp_secret_ref_missing",
                    field == "oauth_slot_ref"
                        ? $"mcp server `{Printable(s)}` references missing MCP OAuth account `{slot}` (in `oauth_slot_ref`); create it with 'kheish-daemon mcp oauth login {McpOauthAccount.IdOf(slot)} --url <server url>'"
                        : $"mcp server `{Printable(s)}` references missing slot `{slot}` (in `{field}`); set it with 'kheish-daemon secrets set {slot} --provider generic --from-env VAR'",
                    IsValidName(s) ? s : null));
            }
        }
    }

    private static void ValidateStdio(McpServerDefinition def, Action<string, string> add)
    {
        if (string.IsNullOrWhiteSpace(def.Command) || ControlCharacters.In(def.Command))
        {
            add("mcp_command_invalid", "`command` must be a non-empty program name or path");
        }

        for (int i = 0; i < (def.Args?.Count ?? 0); i++)
        {
            if (def.Args![i] is null || def.Args[i].Contains('\0', StringComparison.Ordinal))
            {
                add("mcp_args_invalid", $"`args[{i}]` must be a string without NUL");
            }
        }

        foreach (string name in def.Env?.Keys ?? [])
        {
            if (!IsEnvName(name))
            {
                add("mcp_env_name_invalid", $"`env` key `{Printable(name)}` is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)");
            }
            else if (def.Env![name] is null || def.Env[name].Contains('\0', StringComparison.Ordinal))
            {
                add("mcp_env_value_invalid", $"`env.{name}` must be a string without NUL");
            }
        }

        foreach (string name in def.EnvSecretRefs?.Keys ?? [])
        {
            if (!IsEnvName(name))
            {
                add("mcp_env_name_invalid", $"`env_secret_refs` key `{Printable(name)}` is not an environment variable name");
            }
            else if (def.Env?.ContainsKey(name) == true)
            {
                add("mcp_env_two_sources", $"`{name}` is set both in `env` and in `env_secret_refs`; give one source");
            }
        }

        if (def.Cwd is { } cwd && (cwd.Length == 0 || !Path.IsPathFullyQualified(cwd) || cwd.Contains('\0', StringComparison.Ordinal)))
        {
            add("mcp_cwd_invalid", "`cwd` must be an absolute directory path");
        }
    }

    private static void ValidateHttp(McpServerDefinition def, Action<string, string> add)
    {
        if (!Uri.TryCreate(def.Url, UriKind.Absolute, out Uri? uri)
            || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
            || string.IsNullOrEmpty(uri.Host) || uri.UserInfo.Length > 0 || uri.Fragment.Length > 0)
        {
            add("mcp_url_invalid", "`url` must be an absolute http(s) URL with a host, no user info and no fragment");
        }
        else if (uri.Scheme == Uri.UriSchemeHttp && !IsLoopbackHost(uri) && def.SecretRefs().Count > 0)
        {
            add("mcp_url_insecure", "credentials are only sent over https (plain http is accepted for loopback hosts only)");
        }

        var sources = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        void Header(string name, string field)
        {
            if (!IsHeaderName(name))
            {
                add("mcp_header_name_invalid", $"`{field}` key `{Printable(name)}` is not an HTTP header name");
                return;
            }

            if (sources.TryGetValue(name, out string? other))
            {
                add("mcp_header_two_sources", $"header `{name}` is given by both `{other}` and `{field}`; give one source per header");
                return;
            }

            sources[name] = field;
        }

        foreach (var (name, value) in def.HttpHeaders ?? new Dictionary<string, string>())
        {
            Header(name, "http_headers");
            if (value is null || value.Any(c => c is '\r' or '\n' or '\0'))
            {
                add("mcp_header_value_invalid", $"`http_headers.{Printable(name)}` must be one line of text");
            }
        }

        foreach (string name in def.HttpHeaderSecretRefs?.Keys ?? [])
        {
            Header(name, "http_header_secret_refs");
        }

        if (def.BearerTokenSecretRef is not null && sources.TryGetValue("Authorization", out string? auth))
        {
            add("mcp_authorization_conflict", $"an explicit Authorization header (in `{auth}`) cannot be combined with `bearer_token_secret_ref`");
        }

        if (def.HttpHeaders?.Keys.Any(k => string.Equals(k, "Authorization", StringComparison.OrdinalIgnoreCase)) == true
            && def.HttpHeaderSecretRefs is { Count: > 0 })
        {
            add("mcp_authorization_conflict", "a plain Authorization header in `http_headers` cannot be combined with managed auth (`http_header_secret_refs`)");
        }

        ValidateOauth(def, sources, add);
    }

    /// <summary>
    /// OAuth-backed servers: the slot is an MCP OAuth account (<c>mcp.oauth.*</c>), the resource an
    /// https URL, the scopes OAuth scope tokens; a bearer or Authorization header never mixes in.
    /// </summary>
    private static void ValidateOauth(McpServerDefinition def, Dictionary<string, string> headerSources, Action<string, string> add)
    {
        if (def.OauthSlotRef is null)
        {
            if (def.OauthResource is not null || def.OauthScopes is not null)
            {
                add("mcp_oauth_incomplete", $"`{(def.OauthResource is not null ? "oauth_resource" : "oauth_scopes")}` needs `oauth_slot_ref` (the MCP OAuth account slot, mcp.oauth.<id>)");
            }

            return;
        }

        if (!def.OauthSlotRef.StartsWith(McpOauthAccount.SlotPrefix, StringComparison.Ordinal) || def.OauthSlotRef.Length == McpOauthAccount.SlotPrefix.Length)
        {
            add("mcp_oauth_slot_ref_invalid", $"`oauth_slot_ref` must name an MCP OAuth account slot, `{McpOauthAccount.SlotPrefix}<id>` (made by 'kheish-daemon mcp oauth login <id>')");
        }

        if (def.BearerTokenSecretRef is not null)
        {
            add("mcp_auth_mixed", "`bearer_token_secret_ref` and `oauth_slot_ref` cannot both be set: give one source of the bearer token");
        }

        if (headerSources.TryGetValue("Authorization", out string? auth))
        {
            add("mcp_auth_mixed", $"an explicit Authorization header (in `{auth}`) cannot be combined with `oauth_slot_ref`");
        }

        if (def.OauthResource is { } resource && McpOauthUrls.Check(resource, "`oauth_resource`", allowHttpForLoopback: true) is { } problem)
        {
            add("mcp_oauth_resource_invalid", problem);
        }

        if (McpOauthUrls.CheckScopes(def.OauthScopes, "`oauth_scopes`") is { } scopeProblem)
        {
            add("mcp_oauth_scopes_invalid", scopeProblem);
        }
    }

    private static IEnumerable<string> HttpFieldsSet(McpServerDefinition d)
    {
        if (d.BearerTokenSecretRef is not null) { yield return "bearer_token_secret_ref"; }
        if (d.HttpHeaderSecretRefs is not null) { yield return "http_header_secret_refs"; }
        if (d.HttpHeaders is not null) { yield return "http_headers"; }
        if (d.OauthSlotRef is not null) { yield return "oauth_slot_ref"; }
        if (d.OauthResource is not null) { yield return "oauth_resource"; }
        if (d.OauthScopes is not null) { yield return "oauth_scopes"; }
    }

    private static IEnumerable<string> StdioFieldsSet(McpServerDefinition d)
    {
        if (d.Args is not null) { yield return "args"; }
        if (d.Env is not null) { yield return "env"; }
        if (d.EnvSecretRefs is not null) { yield return "env_secret_refs"; }
        if (d.Cwd is not null) { yield return "cwd"; }
    }

    private static IEnumerable<(string Field, string Slot)> RefsWithFields(McpServerDefinition d)
    {
        foreach (var (k, v) in d.EnvSecretRefs ?? new Dictionary<string, string>())
        {
            yield return ($"env_secret_refs.{Printable(k)}", v);
        }

        foreach (var (k, v) in d.HttpHeaderSecretRefs ?? new Dictionary<string, string>())
        {
            yield return ($"http_header_secret_refs.{Printable(k)}", v);
        }

        if (d.BearerTokenSecretRef is { } b)
        {
            yield return ("bearer_token_secret_ref", b);
        }

        if (d.OauthSlotRef is { } o)
        {
            yield return ("oauth_slot_ref", o);
        }
    }

    private static void CheckTimeout(string field, int? value, Action<string, string> add)
    {
        if (value is { } v && (v < 1 || v > MaxTimeoutSec))
        {
            add("mcp_timeout_invalid", $"`{field}` must be between 1 and {MaxTimeoutSec} seconds");
        }
    }

    public static bool IsEnvName(string name) =>
        name.Length is > 0 and <= 256 && (char.IsAsciiLetter(name[0]) || name[0] == '_')
        && name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');

    private static bool IsHeaderName(string name) =>
        name.Length is > 0 and <= 256 && name.All(c => char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c, StringComparison.Ordinal));

    private static bool IsLoopbackHost(Uri uri) =>
        uri.IsLoopback || (IPAddress.TryParse(uri.DnsSafeHost, out IPAddress? ip) && IPAddress.IsLoopback(ip));

    /// <summary>Names from a file or request, shown only when short and printable (never a value).</summary>
    public static string Printable(string? text) =>
        text is { Length: > 0 and <= 64 } t && t.All(c => c is >= ' ' and <= '~') ? t : "<unprintable>";
}
