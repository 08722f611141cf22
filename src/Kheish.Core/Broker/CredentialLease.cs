namespace Kheish.Core.Broker;

/// <summary>
/// A short-lived permission to spend one grant. This public shape has no token and no
/// digest, so no status view or log line can ever carry either.
/// </summary>
internal sealed record CredentialLease(
    string Id,
    string GrantId,
    string SubjectId,
    long SubjectEpoch,
    CredentialAudience Audience,
    long IssuedAtMs,
    long ExpiresAtMs);
