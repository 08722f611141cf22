using System.Text.Json;
using Kheish.Core.Errors;
using Kheish.Core.Storage;

namespace Kheish.Core.Mcp;

/// <summary>
/// Daemon-managed server definitions in <c>&lt;state_root&gt;/mcp-servers.json</c> (0600, atomic
/// writes). Definitions hold slot references only: a secret given with a definition is stored
/// in its slot by the caller before the definition is saved.
/// </summary>
internal sealed class McpServersStore(StateRoot root)
{
    public const int SupportedVersion = 1;

    private readonly Lock _gate = new();

    public string FilePath => root.McpServersFile;

    public Result<IReadOnlyList<McpServerDefinition>> Load()
    {
        byte[]? bytes;
        try
        {
            bytes = AtomicFile.ReadOrNull(FilePath);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return KheishError.Misconfigured("mcp_servers_unreadable", $"cannot read {FilePath} ({ex.GetType().Name}); check its permissions");
        }

        if (bytes is null)
        {
            return Result<IReadOnlyList<McpServerDefinition>>.Ok([]);
        }

        McpServersFileContent? content;
        try
        {
            content = JsonSerializer.Deserialize(bytes, McpJsonContext.Default.McpServersFileContent);
        }
        catch (JsonException ex)
        {
            return KheishError.Misconfigured("mcp_servers_invalid", $"{FilePath} is not a valid servers file ({(ex.Path is { } p ? "at " + p : "malformed JSON")}); fix or remove it");
        }

        if (content is null || content.Version != SupportedVersion)
        {
            return new KheishError("mcp_servers_version", ErrorKind.SchemaMismatch, $"{FilePath} has version {content?.Version}; this build reads version {SupportedVersion}");
        }

        var problems = new List<McpProblem>();
        foreach (McpServerDefinition def in content.Servers)
        {
            McpServerValidator.Validate(def, problems);
        }

        return problems.Count == 0
            ? Result<IReadOnlyList<McpServerDefinition>>.Ok(content.Servers)
            : new McpCheckResult(FilePath, null, problems).ToError() with { Kind = ErrorKind.Misconfigured };
    }

    /// <summary>Adds or replaces one definition (validated by the caller).</summary>
    public Result<IReadOnlyList<McpServerDefinition>> Put(McpServerDefinition def) => Update(list =>
    {
        list.RemoveAll(d => d.Name == def.Name);
        list.Add(def);
        return true;
    });

    /// <summary>Removes a definition; the result says whether it existed.</summary>
    public Result<bool> Remove(string name)
    {
        bool found = false;
        Result<IReadOnlyList<McpServerDefinition>> r = Update(list =>
        {
            found = list.RemoveAll(d => d.Name == name) > 0;
            return found;
        });
        return r.IsOk ? found : r.Error;
    }

    private Result<IReadOnlyList<McpServerDefinition>> Update(Func<List<McpServerDefinition>, bool> change)
    {
        lock (_gate)
        {
            if (!Load().TryGetValue(out IReadOnlyList<McpServerDefinition>? current, out KheishError? error))
            {
                return error;
            }

            var list = current.ToList();
            if (!change(list))
            {
                return Result<IReadOnlyList<McpServerDefinition>>.Ok(list);
            }

            list.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
            try
            {
                AtomicFile.Write(FilePath, JsonSerializer.SerializeToUtf8Bytes(new McpServersFileContent(SupportedVersion, list), McpJsonContext.Default.McpServersFileContent));
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                return KheishError.Unavailable("mcp_servers_write_failed", $"cannot write {FilePath} ({ex.GetType().Name})");
            }

            return Result<IReadOnlyList<McpServerDefinition>>.Ok(list);
        }
    }
}
