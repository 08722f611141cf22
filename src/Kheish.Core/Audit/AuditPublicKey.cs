namespace Kheish.Core.Audit;

/// <summary>The public key to pin (<c>audit public-key</c>).</summary>
internal sealed record AuditPublicKey(string Algorithm, string PublicKey, string Source);
