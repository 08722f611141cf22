namespace Kheish.Core.Routes;

/// <summary>One validated <c>[routes.&lt;id&gt;]</c> entry. <see cref="BaseUrl"/> is already defaulted from the driver.</summary>
internal sealed record RouteDefinition(
    RouteId Id,
    ProviderDriver Driver,
    string DefaultModel,
    ModelSupport ModelSupport,
    RouteCredential Credential,
    Uri BaseUrl,
    RouteSetting? Organization,
    RouteSetting? Project,
    string? AnthropicVersion,
    IReadOnlyList<string> AnthropicBetaHeaders)
{
    /// <summary>The base URL without a trailing slash, ready for <c>+ "/v1/messages"</c>-style joins.</summary>
    public string BaseUrlText => BaseUrl.AbsoluteUri.TrimEnd('/');
}
