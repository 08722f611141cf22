using System.Security.Cryptography;
using System.Text;
using Kheish.Core.Errors;

namespace Kheish.Core.Crypto;

/// <summary>
/// The 32-byte AES-256 key every envelope is sealed with. It comes from the environment only
/// (a value or a file, never both) and is identified by <see cref="KeyId"/>, a short digest that
/// envelopes carry so a wrong key is reported as such instead of as a crypto failure.
/// </summary>
internal sealed class MasterKey
{
    public const int Length = 32;
    public const string ValueVariable = "KHEISH_AUTH_STORE_MASTER_KEY";
    public const string FileVariable = "KHEISH_AUTH_STORE_MASTER_KEY_FILE";
    public const string NewValueVariable = "KHEISH_AUTH_STORE_NEW_MASTER_KEY";
    public const string NewFileVariable = "KHEISH_AUTH_STORE_NEW_MASTER_KEY_FILE";

    /// <summary>A key file is a few dozen bytes; anything much larger is the wrong file.</summary>
    private const int MaxKeyFileBytes = 4096;

    // Domain separation: the key id must never equal a digest computed for any other purpose.
    private static readonly byte[] KeyIdDomain = Encoding.UTF8.GetBytes("kheish-daemon/master-key-id/v1\n");

    private readonly byte[] _key;

    private MasterKey(byte[] key)
    {
        _key = key;
        KeyId = ComputeKeyId(key);
    }

    /// <summary>First 8 bytes of SHA-256(domain || key), lowercase hex. Reveals nothing useful about the key.</summary>
    public string KeyId { get; }

    internal ReadOnlySpan<byte> Bytes => _key;

    public static MasterKey FromBytes(ReadOnlySpan<byte> key)
    {
        if (key.Length != Length)
        {
            throw new ArgumentException($"a master key is exactly {Length} bytes", nameof(key));
        }

        return new MasterKey(key.ToArray());
    }

    public static MasterKey Generate() => new(RandomNumberGenerator.GetBytes(Length));

    /// <summary>
    /// Trims <paramref name="text"/>; standard base64 of 32 bytes wins, else exactly 32 UTF-8 bytes
    /// are used raw. <paramref name="source"/> names where the text came from, for the error.
    /// </summary>
    public static Result<MasterKey> Parse(string text, string source)
    {
        string trimmed = text.Trim();
        if (trimmed.Length == 0)
        {
            return KheishError.Misconfigured("master_key_empty", $"{source} is empty; it must hold a 32-byte key (run `kheish-daemon secrets generate` to make one)");
        }

        Span<byte> decoded = stackalloc byte[64];
        if (trimmed.Length <= 88 && Convert.TryFromBase64String(trimmed, decoded, out int written) && written == Length)
        {
            var key = new MasterKey(decoded[..Length].ToArray());
            CryptographicOperations.ZeroMemory(decoded);
            return key;
        }

        CryptographicOperations.ZeroMemory(decoded);
        byte[] raw = Encoding.UTF8.GetBytes(trimmed);
        if (raw.Length == Length)
        {
            return new MasterKey(raw);
        }

        int rawLength = raw.Length;
        CryptographicOperations.ZeroMemory(raw);
        return KheishError.Misconfigured(
            "master_key_invalid",
            $"{source} must be exactly 32 raw bytes or base64-encoded 32 bytes (it is {rawLength} bytes and not base64 of 32 bytes); " +
            "run `kheish-daemon secrets generate` to make a valid key");
    }

    /// <summary>The store key from KHEISH_AUTH_STORE_MASTER_KEY[_FILE]; null when neither is set.</summary>
    public static Result<MasterKey?> FromEnvironment(Func<string, string?> getEnv) =>
        FromVariables(getEnv, ValueVariable, FileVariable);

    /// <summary>The rekey target from KHEISH_AUTH_STORE_NEW_MASTER_KEY[_FILE]; null when neither is set.</summary>
    public static Result<MasterKey?> NewFromEnvironment(Func<string, string?> getEnv) =>
        FromVariables(getEnv, NewValueVariable, NewFileVariable);

    public override string ToString() => $"MasterKey(key_id={KeyId})";

    private static Result<MasterKey?> FromVariables(Func<string, string?> getEnv, string valueVariable, string fileVariable)
    {
        string? value = getEnv(valueVariable);
        string? file = getEnv(fileVariable);
        if (value is not null && file is not null)
        {
            return KheishError.Misconfigured(
                "master_key_conflict",
                $"both {valueVariable} and {fileVariable} are set; set only one of them");
        }

        if (value is not null)
        {
            Result<MasterKey> fromValue = Parse(value, valueVariable);
            return fromValue.IsOk ? fromValue.Value : Fail(fromValue.Error);
        }

        if (file is null)
        {
            return Result<MasterKey?>.Ok(null);
        }

        if (file.Trim().Length == 0)
        {
            return KheishError.Misconfigured("master_key_empty", $"{fileVariable} is set but empty; set it to the path of a file holding the key");
        }

        string contents;
        try
        {
            var info = new FileInfo(file);
            if (info.Exists && info.Length > MaxKeyFileBytes)
            {
                return KheishError.Misconfigured(
                    "master_key_file_unreadable",
                    $"master key file {file} (from {fileVariable}) is {info.Length} bytes; a key file holds one 32-byte key");
            }

            if (Access.FileStamp.Of(file) is { IsWorldWritable: true } stamp)
            {
                return KheishError.Misconfigured(
                    "master_key_file_world_writable",
                    $"master key file {file} (from {fileVariable}) is writable by any user (mode {Convert.ToString(stamp.Permissions, 8)}), so anyone could replace the key; run 'chmod 600 {file}'");
            }

            contents = File.ReadAllText(file, Encoding.UTF8);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            string why = ex switch
            {
                FileNotFoundException or DirectoryNotFoundException => "it does not exist",
                UnauthorizedAccessException => "permission denied",
                _ => "it cannot be read",
            };
            return KheishError.Misconfigured(
                "master_key_file_unreadable",
                $"cannot read master key file {file} (from {fileVariable}): {why}");
        }

        Result<MasterKey> parsed = Parse(contents, $"master key file {file} (from {fileVariable})");
        return parsed.IsOk ? parsed.Value : Fail(parsed.Error);
    }

    private static Result<MasterKey?> Fail(KheishError error) => Result<MasterKey?>.Fail(error);

    private static string ComputeKeyId(ReadOnlySpan<byte> key)
    {
        Span<byte> input = stackalloc byte[KeyIdDomain.Length + Length];
        KeyIdDomain.CopyTo(input);
        key.CopyTo(input[KeyIdDomain.Length..]);
        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(input, digest);
        CryptographicOperations.ZeroMemory(input);
        return Convert.ToHexStringLower(digest[..8]);
    }
}
