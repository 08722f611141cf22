namespace Kheish.Core.Routes;

/// <summary>
/// What the routes check needs from the secret store: which provider a slot belongs to. The
/// store (Secrets/) implements it; the CLI and <c>serve</c> choose the instance.
/// </summary>
internal interface IAuthRefCatalog
{
    /// <summary>
    /// Null when <see cref="ProviderOf"/> can be asked; otherwise why slots cannot be looked up
    /// (no master key, store unreadable...). Every <c>auth_ref</c> is then reported with this reason.
    /// </summary>
    string? UnavailableReason { get; }

    /// <summary>The provider name of the slot (<c>openai</c>, <c>anthropic</c>, ...), or null when there is no such slot.</summary>
    string? ProviderOf(string slotId);

    /// <summary>The slot's mode name (<c>api_key</c>, <c>oauth_account</c>, ...), or null when unknown.</summary>
    string? ModeOf(string slotId) => null;
}

/// <summary>The catalog used until a secret store is connected: every auth_ref is unverifiable, so routes using one fail the check.</summary>
internal sealed class UnverifiableAuthRefCatalog(string reason, Errors.KheishError? cause = null) : IAuthRefCatalog
{
    /// <summary>The error that made the slots unreachable (daemon down, token refused), when there was one.</summary>
    public Errors.KheishError? Cause { get; } = cause;

    public static UnverifiableAuthRefCatalog NotConnected { get; } =
        new("this build has no secret store connected to the routes check");

    public string? UnavailableReason { get; } = reason;

    public string? ProviderOf(string slotId) => null;
}
