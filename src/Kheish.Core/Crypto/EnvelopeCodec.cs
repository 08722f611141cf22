using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Kheish.Core.Errors;

namespace Kheish.Core.Crypto;

/// <summary>
/// Seals and opens the encrypted envelope (DESIGN.md "Envelope"): AES-256-GCM, a random 96-bit
/// nonce, and associated data that binds the file's purpose (its path relative to the state
/// root), so a file copied over another is rejected instead of decrypted.
/// </summary>
internal static class EnvelopeCodec
{
    public const int CurrentVersion = 1;
    public const int NonceSize = 12;
    public const int TagSize = 16;

    private const string AssociatedDataPrefix = "kheish-daemon/envelope/v1\n";

    public static byte[] Seal(ReadOnlySpan<byte> plaintext, MasterKey key, string purpose)
    {
        ArgumentNullException.ThrowIfNull(key);
        byte[] nonce = RandomNumberGenerator.GetBytes(NonceSize);
        byte[] sealedBytes = new byte[plaintext.Length + TagSize];
        using (var aes = new AesGcm(key.Bytes, TagSize))
        {
            aes.Encrypt(nonce, plaintext, sealedBytes.AsSpan(0, plaintext.Length), sealedBytes.AsSpan(plaintext.Length), AssociatedData(purpose));
        }

        // Written by hand so base64 '+' is not escaped as \u002B (the default encoder's choice).
        var buffer = new ArrayBufferWriter<byte>(sealedBytes.Length * 4 / 3 + 128);
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            writer.WriteNumber("version", CurrentVersion);
            writer.WriteString("key_id", key.KeyId);
            writer.WriteBase64String("nonce", nonce);
            writer.WriteBase64String("ciphertext", sealedBytes);
            writer.WriteEndObject();
        }

        buffer.Write("\n"u8);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>
    /// Decrypts <paramref name="file"/>. Errors name the file by <paramref name="displayName"/>
    /// (default: the purpose) and never include any of its contents.
    /// </summary>
    public static Result<byte[]> Open(ReadOnlySpan<byte> file, MasterKey key, string purpose, string? displayName = null)
    {
        ArgumentNullException.ThrowIfNull(key);
        string name = displayName ?? purpose;
        Result<Envelope> parsed = Parse(file, name);
        if (!parsed.IsOk)
        {
            return parsed.Error;
        }

        Envelope envelope = parsed.Value;
        if (envelope.KeyId != key.KeyId)
        {
            return KheishError.Misconfigured(
                "wrong_master_key",
                $"{name} is encrypted with key id {envelope.KeyId}; the configured key has id {key.KeyId}. " +
                $"Set {MasterKey.ValueVariable} (or {MasterKey.FileVariable}) to the key that wrote it");
        }

        byte[]? nonce = DecodeBase64(envelope.Nonce!);
        byte[]? sealedBytes = DecodeBase64(envelope.Ciphertext!);
        if (nonce is null || nonce.Length != NonceSize || sealedBytes is null || sealedBytes.Length < TagSize)
        {
            return Tampered(name);
        }

        int length = sealedBytes.Length - TagSize;
        byte[] plaintext = new byte[length];
        try
        {
            using var aes = new AesGcm(key.Bytes, TagSize);
            aes.Decrypt(nonce, sealedBytes.AsSpan(0, length), sealedBytes.AsSpan(length), plaintext, AssociatedData(purpose));
        }
        catch (AuthenticationTagMismatchException)
        {
            return Tampered(name);
        }

        return plaintext;
    }

    /// <summary>The key id an envelope claims, or null when <paramref name="file"/> is not a readable envelope.</summary>
    public static string? KeyIdOf(ReadOnlySpan<byte> file) =>
        Parse(file, "file") is { IsOk: true } ok ? ok.Value.KeyId : null;

    /// <summary>
    /// True when <paramref name="file"/> is a JSON object with a top-level <c>ciphertext</c>
    /// member. Tolerates truncation after that member so a damaged envelope is still recognised
    /// (and then reported as corrupt by <see cref="Open"/>) rather than taken for plaintext.
    /// </summary>
    public static bool IsEnvelope(ReadOnlySpan<byte> file)
    {
        var reader = new Utf8JsonReader(file, new JsonReaderOptions { AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow });
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }

            while (reader.Read())
            {
                if (reader.CurrentDepth == 1 && reader.TokenType == JsonTokenType.PropertyName && reader.ValueTextEquals("ciphertext"u8))
                {
                    return true;
                }

                if (reader.CurrentDepth == 0)
                {
                    return false;
                }
            }
        }
        catch (JsonException)
        {
        }

        return false;
    }

    private static byte[] AssociatedData(string purpose)
    {
        if (string.IsNullOrEmpty(purpose) || purpose.StartsWith('/') || purpose.Contains('\\', StringComparison.Ordinal))
        {
            throw new ArgumentException("an envelope purpose is a path relative to the state root, with '/' separators", nameof(purpose));
        }

        return Encoding.UTF8.GetBytes(AssociatedDataPrefix + purpose);
    }

    private static Result<Envelope> Parse(ReadOnlySpan<byte> file, string name)
    {
        Envelope? envelope;
        try
        {
            envelope = JsonSerializer.Deserialize(file, CryptoJsonContext.Default.Envelope);
        }
        catch (JsonException ex)
        {
            return Corrupt(name, $"it is truncated or not valid JSON (line {(ex.LineNumber ?? 0) + 1})");
        }

        if (envelope is null)
        {
            return Corrupt(name, "it holds JSON null instead of an envelope");
        }

        if (envelope.Version is null)
        {
            return Corrupt(name, "its envelope has no \"version\"");
        }

        if (envelope.Version != CurrentVersion)
        {
            return new KheishError(
                "envelope_version_unsupported",
                ErrorKind.SchemaMismatch,
                $"{name} uses envelope version {envelope.Version}; this kheish-daemon reads version {CurrentVersion}. Use the kheish-daemon release that wrote it");
        }

        string? missing = envelope.KeyId is null ? "key_id" : envelope.Nonce is null ? "nonce" : envelope.Ciphertext is null ? "ciphertext" : null;
        if (missing is not null)
        {
            return Corrupt(name, $"its envelope has no \"{missing}\"");
        }

        return envelope;
    }

    private static byte[]? DecodeBase64(string text)
    {
        byte[] buffer = new byte[(text.Length * 3 / 4) + 3];
        return Convert.TryFromBase64String(text, buffer, out int written) ? buffer.AsSpan(0, written).ToArray() : null;
    }

    private static KheishError Tampered(string name) => KheishError.Misconfigured(
        "envelope_tampered",
        $"{name} failed authentication: it was modified, damaged, or copied from another file. Restore it from a backup");

    internal static KheishError Corrupt(string name, string why) => KheishError.Misconfigured(
        "state_file_corrupt",
        $"{name} is not a readable state file: {why}. Restore it from a backup, or move it aside to start without it (its contents are then lost)");
}
