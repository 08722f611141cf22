namespace Kheish.Core.Broker;

/// <summary>
/// The decision behind a lease: this subject, under this effective scope, may reach this
/// audience. Ledger records carry the grant id. <see cref="Scope"/> is null when empty.
/// </summary>
internal sealed record CredentialGrant(
    string Id,
    string Subject,
    CredentialScope? Scope,
    CredentialAudience Audience,
    long IssuedAtMs);
