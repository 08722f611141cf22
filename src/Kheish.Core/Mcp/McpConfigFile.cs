using Kheish.Core.Toml;

namespace Kheish.Core.Mcp;

/// <summary>
/// <c>serve --mcp-config F</c> and <c>mcp check F</c>: a TOML file of
/// <c>[mcp_servers.&lt;name&gt;]</c> tables (the Codex shape, with slot references for secrets).
/// Every problem is collected; messages give names, fields, or line and column, never values.
/// </summary>
internal static class McpConfigFile
{
    public const int MaxBytes = 1 << 20;

    private static readonly HashSet<string> ServerFields = new(StringComparer.Ordinal)
    {
        "command", "args", "env", "env_secret_refs", "cwd", "inherit_env",
        "url", "bearer_token_secret_ref", "http_header_secret_refs", "http_headers",
        "startup_timeout_sec", "tool_timeout_sec", "enabled", "tool_policy", "approval_timeout_sec", "hooks",
        "oauth_slot_ref", "oauth_resource", "oauth_scopes",
    };

    /// <summary>Codex fields that would pull a credential from the daemon's own environment.</summary>
    private static readonly Dictionary<string, string> Unsupported = new(StringComparer.Ordinal)
    {
        ["bearer_token_env_var"] = "use `bearer_token_secret_ref` (a slot) instead of a daemon environment variable",
        ["env_http_headers"] = "use `http_header_secret_refs` (slots) instead of daemon environment variables",
        ["env_vars"] = "stdio children get a cleared environment: use `env` or `env_secret_refs`",
    };

    public static McpCheckResult LoadAndCheck(string path, Func<string, bool>? slotExists)
    {
        byte[] bytes;
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists)
            {
                return Failed(path, "mcp_config_missing", "the file does not exist");
            }

            if (info.Length > MaxBytes)
            {
                return Failed(path, "mcp_config_too_large", $"the file is larger than {MaxBytes} bytes");
            }

            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return Failed(path, "mcp_config_unreadable", $"the file cannot be read ({ex.GetType().Name})");
        }

        return Check(bytes, path, slotExists);
    }

    public static McpCheckResult Check(ReadOnlySpan<byte> utf8, string source, Func<string, bool>? slotExists)
    {
        if (utf8.Length > MaxBytes)
        {
            return Failed(source, "mcp_config_too_large", $"the file is larger than {MaxBytes} bytes");
        }

        if (!TomlReader.TryParse(utf8, out TomlTable? document, out TomlError? syntax))
        {
            return Failed(source, TomlError.Code, $"not valid TOML: {syntax}");
        }

        var problems = new List<McpProblem>();
        var servers = new List<McpServerDefinition>();
        foreach (var (key, value) in document)
        {
            if (key != "mcp_servers")
            {
                problems.Add(new McpProblem("mcp_config_unknown_field", $"unknown top-level field `{McpServerValidator.Printable(key)}` (allowed: [mcp_servers.<name>])"));
                continue;
            }

            if (value is not TomlTable table)
            {
                problems.Add(new McpProblem("mcp_config_type", "`mcp_servers` must be a table of [mcp_servers.<name>] tables"));
                continue;
            }

            foreach (var (name, body) in table)
            {
                if (body is not TomlTable server)
                {
                    problems.Add(new McpProblem("mcp_config_type", $"`mcp_servers.{McpServerValidator.Printable(name)}` must be a table"));
                    continue;
                }

                if (Read(name, server, problems) is { } def)
                {
                    McpServerValidator.Validate(def, problems, slotExists);
                    servers.Add(def);
                }
            }
        }

        return new McpCheckResult(source, problems.Count == 0 ? servers : null, problems);
    }

    private static McpServerDefinition? Read(string name, TomlTable t, List<McpProblem> problems)
    {
        int before = problems.Count;
        string shown = McpServerValidator.Printable(name);
        void Bad(string field, string expected) =>
            problems.Add(new McpProblem("mcp_config_type", $"mcp server `{shown}`: `{field}` must be {expected}", name));

        foreach (string key in t.Keys)
        {
            if (Unsupported.TryGetValue(key, out string? hint))
            {
                problems.Add(new McpProblem("mcp_config_unsupported_field", $"mcp server `{shown}`: `{key}` is not supported: {hint}", name));
            }
            else if (!ServerFields.Contains(key))
            {
                problems.Add(new McpProblem("mcp_config_unknown_field", $"mcp server `{shown}`: unknown field `{McpServerValidator.Printable(key)}`", name));
            }
        }

        string? Str(string field)
        {
            if (!t.TryGetValue(field, out object? v)) { return null; }
            if (v is string s) { return s; }
            Bad(field, "a string");
            return null;
        }

        int? Int(string field)
        {
            if (!t.TryGetValue(field, out object? v)) { return null; }
            if (v is long l && l is >= int.MinValue and <= int.MaxValue) { return (int)l; }
            Bad(field, "an integer");
            return null;
        }

        bool? Bool(string field)
        {
            if (!t.TryGetValue(field, out object? v)) { return null; }
            if (v is bool b) { return b; }
            Bad(field, "true or false");
            return null;
        }

        List<string>? List(string field)
        {
            if (!t.TryGetValue(field, out object? v)) { return null; }
            if (v is TomlArray a && a.Count <= 1024)
            {
                var list = new List<string>();
                foreach (object item in a)
                {
                    if (item is not string s) { Bad(field, "an array of strings"); return null; }
                    list.Add(s);
                }

                return list;
            }

            Bad(field, "an array of strings");
            return null;
        }

        Dictionary<string, string>? Map(string field)
        {
            if (!t.TryGetValue(field, out object? v)) { return null; }
            if (v is TomlTable m && m.Count <= 1024)
            {
                var map = new Dictionary<string, string>(StringComparer.Ordinal);
                foreach (var (k, item) in m)
                {
                    if (item is not string s) { Bad($"{field}.{McpServerValidator.Printable(k)}", "a string"); return null; }
                    map[k] = s;
                }

                return map;
            }

            Bad(field, "a table of strings");
            return null;
        }

        Dictionary<string, Policy.PolicyHook>? Hooks()
        {
            if (!t.TryGetValue("hooks", out object? v)) { return null; }
            if (v is not TomlTable table || table.Count > 1024)
            {
                Bad("hooks", "a table of [mcp_servers.<name>.hooks.<hook>] tables with `command` and `timeout_ms`");
                return null;
            }

            var hooks = new Dictionary<string, Policy.PolicyHook>(StringComparer.Ordinal);
            foreach (var (hookName, body) in table)
            {
                string field = "hooks." + McpServerValidator.Printable(hookName);
                if (body is not TomlTable h)
                {
                    Bad(field, "a table with `command` (an array of strings) and `timeout_ms` (an integer)");
                    return null;
                }

                foreach (string key in h.Keys.Where(k => k is not ("command" or "timeout_ms")))
                {
                    problems.Add(new McpProblem("mcp_config_unknown_field", $"mcp server `{shown}`: unknown field `{field}.{McpServerValidator.Printable(key)}` (a hook has `command` and `timeout_ms`)", name));
                }

                List<string>? command = null;
                if (h.TryGetValue("command", out object? c))
                {
                    if (c is TomlArray a && a.Count <= 1024 && a.All(i => i is string))
                    {
                        command = [.. a.Cast<string>()];
                    }
                    else
                    {
                        Bad(field + ".command", "an array of strings (the program and its arguments)");
                    }
                }

                int? timeout = null;
                if (h.TryGetValue("timeout_ms", out object? tm))
                {
                    if (tm is long l && l is >= int.MinValue and <= int.MaxValue)
                    {
                        timeout = (int)l;
                    }
                    else
                    {
                        Bad(field + ".timeout_ms", "an integer (milliseconds)");
                    }
                }

                hooks[hookName] = new Policy.PolicyHook { Command = command, TimeoutMs = timeout };
            }

            return hooks;
        }

        var def = new McpServerDefinition
        {
            Name = name,
            Command = Str("command"),
            Args = List("args"),
            Env = Map("env"),
            EnvSecretRefs = Map("env_secret_refs"),
            Cwd = Str("cwd"),
            InheritEnv = Bool("inherit_env"),
            Url = Str("url"),
            BearerTokenSecretRef = Str("bearer_token_secret_ref"),
            HttpHeaderSecretRefs = Map("http_header_secret_refs"),
            HttpHeaders = Map("http_headers"),
            OauthSlotRef = Str("oauth_slot_ref"),
            OauthResource = Str("oauth_resource"),
            OauthScopes = List("oauth_scopes"),
            StartupTimeoutSec = Int("startup_timeout_sec"),
            ToolTimeoutSec = Int("tool_timeout_sec"),
            ToolPolicy = Map("tool_policy"),
            ApprovalTimeoutSec = Int("approval_timeout_sec"),
            Hooks = Hooks(),
        };
        bool enabled = Bool("enabled") ?? true;
        return enabled || problems.Count > before ? def : null;
    }

    private static McpCheckResult Failed(string source, string code, string message) =>
        new(source, null, [new McpProblem(code, message)]);
}
