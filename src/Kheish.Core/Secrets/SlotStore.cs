using System.Security.Cryptography;
using System.Text.Json;
using Kheish.Core.Crypto;
using Kheish.Core.Errors;
using Kheish.Core.Storage;

namespace Kheish.Core.Secrets;

/// <summary>
/// The secret slots of one state root (<c>auth/global-slots.json</c>). Thread-safe: writers are
/// serialised by a lock around modify-and-save, and the in-memory copy is replaced only after
/// the atomic write succeeded, so a failed write changes neither disk nor memory. Readers see
/// an immutable snapshot and never block.
/// </summary>
internal sealed class SlotStore
{
    /// <summary>The envelope purpose: the file's path relative to the state root.</summary>
    public const string Purpose = "auth/global-slots.json";

    private readonly Lock _writeGate = new();
    private readonly StateRoot _root;
    private readonly MasterKey? _key;
    private readonly TimeProvider _time;
    private volatile IReadOnlyDictionary<string, SlotRecord> _slots;

    private SlotStore(StateRoot root, MasterKey? key, TimeProvider time, Dictionary<string, SlotRecord> slots, bool legacyPlaintext)
    {
        _root = root;
        _key = key;
        _time = time;
        _slots = slots;
        IsLegacyPlaintext = legacyPlaintext;
    }

    /// <summary>Raised after a slot was written or deleted durably (supervised children follow their slots).</summary>
    public event Action<SlotId>? SlotChanged;

    /// <summary>
    /// Raised after an operator wrote a slot durably, never on delete: the broker lifts a
    /// revocation tombstone only when a new value is written. Were a delete to lift it, a slots
    /// file restored from a backup would bring the revoked value back into use.
    /// </summary>
    public event Action<SlotId>? SlotWritten;

    /// <summary>True while the file on disk is the legacy plaintext format; the next save encrypts it.</summary>
    public bool IsLegacyPlaintext { get; private set; }

    public bool HasMasterKey => _key is not null;

    public string FilePath => _root.SlotsFile;

    /// <summary>
    /// Reads the store. A missing file is an empty store; a legacy plaintext file loads without a
    /// key; an encrypted file needs the key it was written with.
    /// </summary>
    public static Result<SlotStore> Load(StateRoot root, MasterKey? key, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(root);
        string path = root.SlotsFile;
        byte[]? file;
        try
        {
            file = AtomicFile.ReadOrNull(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return KheishError.Misconfigured("state_file_unreadable", $"cannot read {path}: {ex.Message}");
        }

        time ??= TimeProvider.System;
        if (file is null)
        {
            return new SlotStore(root, key, time, new Dictionary<string, SlotRecord>(StringComparer.Ordinal), legacyPlaintext: false);
        }

        bool legacy = !EnvelopeCodec.IsEnvelope(file);
        byte[] plaintext;
        if (legacy)
        {
            plaintext = file;
        }
        else
        {
            if (key is null)
            {
                return KheishError.Misconfigured(
                    "master_key_required",
                    $"{path} is encrypted but no master key is configured; set {MasterKey.ValueVariable} " +
                    $"(base64 of 32 bytes) or {MasterKey.FileVariable} (a file holding it) to the key that wrote it");
            }

            Result<byte[]> opened = EnvelopeCodec.Open(file, key, Purpose, path);
            if (!opened.IsOk)
            {
                return opened.Error;
            }

            plaintext = opened.Value;
        }

        try
        {
            Result<Dictionary<string, SlotRecord>> slots = Decode(plaintext, path);
            return slots.IsOk ? new SlotStore(root, key, time, slots.Value, legacy) : slots.Error;
        }
        finally
        {
            if (!legacy)
            {
                CryptographicOperations.ZeroMemory(plaintext);
            }
        }
    }

    /// <summary>
    /// An empty store that can neither read nor write encrypted slots: what the daemon serves
    /// when the store is encrypted but no master key is configured (env-backed routes still work;
    /// every write fails with <see cref="MasterKeyRequiredForWrite"/>, so nothing is overwritten).
    /// </summary>
    public static SlotStore EmptyWithoutKey(StateRoot root, TimeProvider? time = null) =>
        new(root, null, time ?? TimeProvider.System, new Dictionary<string, SlotRecord>(StringComparer.Ordinal), legacyPlaintext: false);

    /// <summary>The error a write without a master key gets: it says how to set one.</summary>
    public static KheishError MasterKeyRequiredForWrite(StateRoot root) => KheishError.Misconfigured(
        "master_key_required",
        $"cannot write {root.SlotsFile}: no master key is configured. Set {MasterKey.ValueVariable} to a base64 key " +
        $"from `kheish-daemon secrets generate`, or {MasterKey.FileVariable} to a file holding it");

    /// <summary>Every slot, ordered by id.</summary>
    public IReadOnlyList<SlotRecord> List() =>
        [.. _slots.Values.OrderBy(r => r.SlotId.Value, StringComparer.Ordinal)];

    /// <summary>The metadata view of every slot, ordered by id.</summary>
    public IReadOnlyList<SlotStatus> ListStatus() => [.. List().Select(r => r.ToStatus())];

    public SlotRecord? Get(SlotId id) => _slots.GetValueOrDefault(id.Value);

    /// <summary>
    /// Creates or replaces a slot, stamping <c>updated_at_ms</c> with the current time, and
    /// returns its status. Needs the master key; on any failure nothing changes.
    /// </summary>
    public Result<SlotStatus> Set(SlotRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (record.Validate() is { } invalid)
        {
            return invalid;
        }

        SlotRecord stamped = record with { UpdatedAtMs = _time.GetUtcNow().ToUnixTimeMilliseconds() };
        lock (_writeGate)
        {
            var next = new Dictionary<string, SlotRecord>(_slots, StringComparer.Ordinal)
            {
                [stamped.SlotId.Value] = stamped,
            };
            if (Save(next) is { } failed)
            {
                return failed;
            }
        }

        SlotWritten?.Invoke(stamped.SlotId);
        SlotChanged?.Invoke(stamped.SlotId);
        return stamped.ToStatus();
    }

    /// <summary>
    /// Replaces <paramref name="expected"/> with <paramref name="next"/> only while it is still the
    /// slot's current record (a compare-and-swap: a slot re-imported or deleted meanwhile is left
    /// alone). Raises no <see cref="SlotChanged"/>: an account rotating its own tokens is not an
    /// operator rewrite, so a revocation tombstone stays in force.
    /// </summary>
    public Result<SlotRecord> ReplaceIfCurrent(SlotRecord expected, SlotRecord next)
    {
        ArgumentNullException.ThrowIfNull(expected);
        ArgumentNullException.ThrowIfNull(next);
        if (next.Validate() is { } invalid)
        {
            return invalid;
        }

        SlotRecord stamped = next with { UpdatedAtMs = _time.GetUtcNow().ToUnixTimeMilliseconds() };
        lock (_writeGate)
        {
            if (!ReferenceEquals(_slots.GetValueOrDefault(expected.SlotId.Value), expected) || stamped.SlotId != expected.SlotId)
            {
                return KheishError.Conflict("slot_changed", $"slot {expected.SlotId} changed while it was being updated; the update was dropped");
            }

            var updated = new Dictionary<string, SlotRecord>(_slots, StringComparer.Ordinal)
            {
                [stamped.SlotId.Value] = stamped,
            };
            if (Save(updated) is { } failed)
            {
                return failed;
            }
        }

        return stamped;
    }

    /// <summary>Removes a slot. False (and no write) when it does not exist.</summary>
    public Result<bool> Delete(SlotId id)
    {
        lock (_writeGate)
        {
            if (!_slots.ContainsKey(id.Value))
            {
                return false;
            }

            var next = new Dictionary<string, SlotRecord>(_slots, StringComparer.Ordinal);
            next.Remove(id.Value);
            if (Save(next) is { } failed)
            {
                return failed;
            }
        }

        SlotChanged?.Invoke(id);
        return true;
    }

    private KheishError? Save(Dictionary<string, SlotRecord> next)
    {
        if (_key is null)
        {
            return MasterKeyRequiredForWrite(_root);
        }

        var ordered = new Dictionary<string, SlotRecord>(StringComparer.Ordinal);
        foreach (var pair in next.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            ordered.Add(pair.Key, pair.Value);
        }

        byte[] plaintext = JsonSerializer.SerializeToUtf8Bytes(new SlotsSnapshot(ordered), SecretsJsonContext.Default.SlotsSnapshot);
        try
        {
            byte[] sealedFile = EnvelopeCodec.Seal(plaintext, _key, Purpose);
            _root.EnsureExists();
            AtomicFile.Write(FilePath, sealedFile);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return KheishError.Unavailable("state_write_failed", $"cannot write {FilePath}: {ex.Message}");
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plaintext);
        }

        _slots = next;
        IsLegacyPlaintext = false;
        return null;
    }

    private static Result<Dictionary<string, SlotRecord>> Decode(byte[] plaintext, string path)
    {
        SlotsSnapshot? snapshot;
        try
        {
            snapshot = JsonSerializer.Deserialize(plaintext, SecretsJsonContext.Default.SlotsSnapshot);
        }
        catch (JsonException ex)
        {
            // Only the position is reported: the plaintext holds secrets.
            string where = ex.Path is { Length: > 0 } p ? $" at {p}" : $" (line {(ex.LineNumber ?? 0) + 1})";
            return EnvelopeCodec.Corrupt(path, $"its slots are not valid{where}");
        }

        if (snapshot?.Slots is null)
        {
            return EnvelopeCodec.Corrupt(path, "it has no \"slots\" object");
        }

        var slots = new Dictionary<string, SlotRecord>(StringComparer.Ordinal);
        foreach (var (key, record) in snapshot.Slots)
        {
            if (record is null || record.SlotId.Value != key)
            {
                return EnvelopeCodec.Corrupt(path, "a slot's slot_id does not match its key in \"slots\"");
            }

            slots[key] = record;
        }

        return slots;
    }
}
