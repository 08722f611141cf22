using System.Text.Json;
using Kheish.Core.Crypto;
using Kheish.Core.Errors;
using Kheish.Core.Storage;

namespace Kheish.Core.Connectors;

/// <summary>
/// <c>&lt;state_root&gt;/connectors.json</c>: the connector definitions (secret fields by reference
/// only). Written atomically (0600); sealed in an envelope when a master key is configured,
/// plain JSON otherwise (it holds no secret value, only references and a bearer digest).
/// Readers see an immutable snapshot; writers are serialised and memory changes only after
/// the write succeeded.
/// </summary>
internal sealed class ConnectorStore
{
    public const string Purpose = "connectors.json";
    public const int Version = 1;

    private readonly Lock _writeGate = new();
    private readonly string _path;
    private readonly MasterKey? _key;
    private volatile IReadOnlyDictionary<string, ConnectorDefinition> _all;

    private ConnectorStore(string path, MasterKey? key, Dictionary<string, ConnectorDefinition> all)
    {
        _path = path;
        _key = key;
        _all = all;
    }

    public string FilePath => _path;

    public static Result<ConnectorStore> Load(StateRoot root, MasterKey? key)
    {
        string path = root.ConnectorsFile;
        byte[]? file;
        try
        {
            file = AtomicFile.ReadOrNull(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return KheishError.Misconfigured("state_file_unreadable", $"cannot read {path}: {ex.GetType().Name}");
        }

        if (file is null)
        {
            return new ConnectorStore(path, key, new Dictionary<string, ConnectorDefinition>(StringComparer.Ordinal));
        }

        byte[] plaintext = file;
        if (EnvelopeCodec.IsEnvelope(file))
        {
            if (key is null)
            {
                return KheishError.Misconfigured("master_key_required",
                    $"{path} is encrypted but no master key is configured; set {MasterKey.ValueVariable} or {MasterKey.FileVariable} to the key that wrote it");
            }

            if (!EnvelopeCodec.Open(file, key, Purpose, path).TryGetValue(out byte[]? opened, out KheishError? error))
            {
                return error;
            }

            plaintext = opened;
        }

        ConnectorsSnapshot? snapshot;
        try
        {
            snapshot = JsonSerializer.Deserialize(plaintext, ConnectorsJsonContext.Default.ConnectorsSnapshot);
        }
        catch (JsonException ex)
        {
            return EnvelopeCodec.Corrupt(path, $"its connectors are not valid{(ex.Path is { Length: > 0 } p ? " at " + p : "")}");
        }

        if (snapshot?.Connectors is null || snapshot.Version != Version)
        {
            return EnvelopeCodec.Corrupt(path, $"it has no \"connectors\" object of version {Version}");
        }

        var all = new Dictionary<string, ConnectorDefinition>(StringComparer.Ordinal);
        foreach (var (k, d) in snapshot.Connectors)
        {
            if (d is null || !string.Equals(d.Key, k, StringComparison.Ordinal) || ConnectorName.CheckName(d.Name) is not null)
            {
                return EnvelopeCodec.Corrupt(path, "a connector's kind/name does not match its key");
            }

            all[k] = d;
        }

        return new ConnectorStore(path, key, all);
    }

    public IReadOnlyList<ConnectorDefinition> List() =>
        [.. _all.Values.OrderBy(d => d.Key, StringComparer.Ordinal)];

    public ConnectorDefinition? Get(ConnectorKind kind, string name) => _all.GetValueOrDefault(ConnectorDefinition.KeyOf(kind, name));

    public KheishError? Put(ConnectorDefinition definition)
    {
        lock (_writeGate)
        {
            var next = new Dictionary<string, ConnectorDefinition>(_all, StringComparer.Ordinal) { [definition.Key] = definition };
            return Save(next);
        }
    }

    public Result<bool> Delete(ConnectorKind kind, string name)
    {
        lock (_writeGate)
        {
            var next = new Dictionary<string, ConnectorDefinition>(_all, StringComparer.Ordinal);
            if (!next.Remove(ConnectorDefinition.KeyOf(kind, name)))
            {
                return false;
            }

            return Save(next) is { } error ? error : true;
        }
    }

    private KheishError? Save(Dictionary<string, ConnectorDefinition> next)
    {
        var ordered = new Dictionary<string, ConnectorDefinition>(StringComparer.Ordinal);
        foreach (var pair in next.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            ordered.Add(pair.Key, pair.Value);
        }

        byte[] json = JsonSerializer.SerializeToUtf8Bytes(new ConnectorsSnapshot(Version, ordered), ConnectorsJsonContext.Default.ConnectorsSnapshot);
        try
        {
            AtomicFile.Write(_path, _key is null ? json : EnvelopeCodec.Seal(json, _key, Purpose));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return KheishError.Unavailable("state_write_failed", $"cannot write {_path}: {ex.GetType().Name}");
        }

        _all = next;
        return null;
    }
}
