using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Kheish.Core.Crypto;
using Kheish.Core.Errors;
using Kheish.Core.Storage;

namespace Kheish.Core.Audit;

/// <summary>
/// The ledger's Ed25519 signing key: <c>KHEISH_EXTERNAL_ACTION_AUDIT_SIGNING_KEY</c>, else the
/// file named by <c>..._FILE</c>, else <c>&lt;state_root&gt;/audit-signing.key</c> (created on first
/// use, 0600, create-new). Keeping the key outside the state root (env or mounted file) and pinning
/// its public key is what makes a re-signed ledger detectable.
/// </summary>
internal sealed class AuditSigningKey : IDisposable
{
    public const string EnvironmentVariable = "KHEISH_EXTERNAL_ACTION_AUDIT_SIGNING_KEY";
    public const string FileEnvironmentVariable = "KHEISH_EXTERNAL_ACTION_AUDIT_SIGNING_KEY_FILE";

    private const string Formats =
        "expected a 32-byte Ed25519 seed as 64 hex characters, base64 or base64url, or the JSON form {\"algorithm\":\"ed25519\",\"secret_key_hex\":\"<64 hex>\"}";

    private AuditSigningKey(Ed25519PrivateKey key, string source)
    {
        Key = key;
        Source = source;
    }

    public Ed25519PrivateKey Key { get; }

    /// <summary>Where the key came from (an env var name or a path), for messages.</summary>
    public string Source { get; }

    public string PublicKeyHex => Key.PublicKeyHex;

    /// <summary>
    /// Resolves the key. With <paramref name="createIfMissing"/> (the daemon), a missing state-root
    /// key is generated, unless the ledger already has state: a new key would silently start a
    /// second identity, so that is the <c>audit_signing_key_missing</c> startup error instead.
    /// </summary>
    public static Result<AuditSigningKey> Resolve(StateRoot root, Func<string, string?> environment, bool createIfMissing)
    {
        string? inline = Blank(environment(EnvironmentVariable));
        string? file = Blank(environment(FileEnvironmentVariable));
        if (inline is not null && file is not null)
        {
            return KheishError.Misconfigured(
                "audit_signing_key_conflict",
                $"both {EnvironmentVariable} and {FileEnvironmentVariable} are set; set only one");
        }

        if (inline is not null)
        {
            return FromText(inline, EnvironmentVariable);
        }

        if (file is not null)
        {
            byte[] bytes;
            try
            {
                bytes = File.ReadAllBytes(file);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                return KheishError.Misconfigured(
                    "audit_signing_key_unreadable",
                    $"{FileEnvironmentVariable} names '{file}', which cannot be read ({Kheish.Core.Errors.IoReason.Of(ex)}); fix the path or its permissions");
            }

            return FromText(Encoding.UTF8.GetString(bytes), $"{FileEnvironmentVariable} ({file})");
        }

        string path = root.AuditSigningKeyFile;
        if (File.Exists(path))
        {
            return ReadStateRootKey(path);
        }

        var paths = new LedgerPaths(root);
        if (!createIfMissing || paths.HasLedgerState())
        {
            string why = paths.HasLedgerState()
                ? $"the external-action ledger in {paths.RecordsDirectory} already has records, but its signing key {path} is missing. " +
                  $"Restore the key file, or set {EnvironmentVariable} or {FileEnvironmentVariable} to the key that signed it; " +
                  "a new key would break the ledger's signature continuity, so the daemon refuses to invent one"
                : $"no audit signing key: {path} does not exist and neither {EnvironmentVariable} nor {FileEnvironmentVariable} is set " +
                  "(the daemon creates the file on first start)";
            return paths.HasLedgerState()
                ? KheishError.Misconfigured("audit_signing_key_missing", why)
                : KheishError.NotFound("audit_signing_key_missing", why);
        }

        return CreateStateRootKey(root, path);
    }

    /// <summary>Parses a seed in any accepted form. <paramref name="where"/> names the source in errors; the value never appears.</summary>
    public static Result<byte[]> ParseSeed(string text, string where)
    {
        string value = text.Trim();
        if (value.StartsWith('{'))
        {
            if (!LedgerChecks.TryParse(Encoding.UTF8.GetBytes(value), AuditJsonContext.Default.SigningKeyFile, out SigningKeyFile? json, out string? error))
            {
                return Bad($"{where}: not a valid signing key JSON document ({error}); {Formats}");
            }

            if (!string.Equals(json!.Algorithm, LedgerEncoding.SignatureAlgorithm, StringComparison.Ordinal))
            {
                return Bad($"{where}: algorithm '{LedgerChecks.Printable(json.Algorithm)}' is not supported; expected 'ed25519'");
            }

            if (json.SecretKeyHex is not { Length: 64 } || !IsHex(json.SecretKeyHex))
            {
                return Bad($"{where}: secret_key_hex must be 64 hex characters (a 32-byte seed), got {json.SecretKeyHex?.Length ?? 0} characters");
            }

            return Convert.FromHexString(json.SecretKeyHex);
        }

        if (value.Length == 64 && IsHex(value))
        {
            return Convert.FromHexString(value);
        }

        byte[]? decoded = TryBase64(value);
        if (decoded is { Length: Ed25519.SeedSize })
        {
            return decoded;
        }

        string got = decoded is not null
            ? $"got base64 that decodes to {decoded.Length} bytes"
            : $"got {value.Length} characters that are neither hex nor base64";
        return Bad($"{where}: {Formats}; {got}");
    }

    public static string ToJson(ReadOnlySpan<byte> seed) =>
        JsonSerializer.Serialize(new SigningKeyFile(LedgerEncoding.SignatureAlgorithm, Convert.ToHexStringLower(seed)), AuditJsonContext.Default.SigningKeyFile);

    public void Dispose() => Key.Dispose();

    private static Result<AuditSigningKey> FromText(string text, string where)
    {
        Result<byte[]> seed = ParseSeed(text, where);
        if (!seed.TryGetValue(out byte[]? bytes, out KheishError? error))
        {
            return error;
        }

        try
        {
            return new AuditSigningKey(Ed25519PrivateKey.FromSeed(bytes), where);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(bytes);
        }
    }

    private static Result<AuditSigningKey> ReadStateRootKey(string path)
    {
        UnixFileMode mode = File.GetUnixFileMode(path);
        if ((mode & ~(UnixFileMode.UserRead | UnixFileMode.UserWrite)) != 0)
        {
            return KheishError.Misconfigured(
                "audit_signing_key_exposed",
                $"{path} is readable or writable by others (mode {Convert.ToString((int)mode, 8)}); run: chmod 600 '{path}'");
        }

        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return KheishError.Misconfigured("audit_signing_key_unreadable", $"{path} cannot be read ({Kheish.Core.Errors.IoReason.Of(ex)})");
        }

        return FromText(Encoding.UTF8.GetString(bytes), path);
    }

    /// <summary>
    /// Writes the key to a private temp file, syncs it, then link(2)s it into place: two daemons
    /// racing on a fresh state root both succeed, one key wins, and nobody ever reads a half-written file.
    /// </summary>
    private static Result<AuditSigningKey> CreateStateRootKey(StateRoot root, string path)
    {
        root.EnsureExists();
        byte[] seed = RandomNumberGenerator.GetBytes(Ed25519.SeedSize);
        string temp = Path.Combine(root.FullPath, $".audit-signing.key.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                UnixCreateMode = AtomicFile.PrivateFileMode,
            }))
            {
                stream.Write(Encoding.UTF8.GetBytes(ToJson(seed) + "\n"));
                stream.Flush(flushToDisk: true);
            }

            bool created = AuditNative.TryLinkNew(temp, path);
            File.Delete(temp);
            PosixNative.FsyncDirectory(root.FullPath);
            return created ? FromText(ToJson(seed), path) : ReadStateRootKey(path);
        }
        catch (IOException ex)
        {
            return KheishError.Misconfigured("audit_signing_key_unwritable", $"cannot create {path}: {ex.Message}");
        }
        finally
        {
            CryptographicOperations.ZeroMemory(seed);
            if (File.Exists(temp))
            {
                File.Delete(temp);
            }
        }
    }

    private static byte[]? TryBase64(string value)
    {
        string standard = value.Replace('-', '+').Replace('_', '/');
        switch (standard.Length % 4)
        {
            case 2: standard += "=="; break;
            case 3: standard += "="; break;
        }

        byte[] buffer = new byte[(standard.Length / 4 * 3) + 3];
        return Convert.TryFromBase64String(standard, buffer, out int written) ? buffer[..written] : null;
    }

    private static bool IsHex(string value) => value.All(char.IsAsciiHexDigit);

    private static string? Blank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;

    private static KheishError Bad(string message) => KheishError.Misconfigured("audit_signing_key_invalid", message);
}
