namespace Kheish.Core.Crypto;

/// <summary>
/// The on-disk shape of every encrypted state file. Fields are nullable so a damaged file is
/// reported precisely (which field is missing) instead of as a generic parse failure.
/// </summary>
internal sealed record Envelope(int? Version, string? KeyId, string? Nonce, string? Ciphertext);
