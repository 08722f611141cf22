namespace Kheish.Core.Audit;

/// <summary><c>audit-signing.key</c>.</summary>
internal sealed record SigningKeyFile(string Algorithm, string SecretKeyHex);
