namespace Kheish.Core.Broker;

/// <summary>
/// What an issue call returns, once: the lease, its grant and the bearer token. The broker
/// keeps only the token's SHA-256 digest, so a lost token is a lost lease.
/// </summary>
internal sealed class IssuedLease(CredentialLease lease, CredentialGrant grant, string token)
{
    public CredentialLease Lease { get; } = lease;

    public CredentialGrant Grant { get; } = grant;

    /// <summary>The bearer token for the holder. Never log it, never put it in a view.</summary>
    public string Token { get; } = token;

    public override string ToString() => $"IssuedLease {{ Lease = {Lease.Id}, Grant = {Grant.Id}, Token = <redacted> }}";
}
