using Kheish.Core.Access;
using Kheish.Core.Broker;
using Kheish.Core.Errors;

namespace Kheish.Core.Egress;

/// <summary>
/// Who a proxied request acts as, and within which scope.
/// <list type="bullet">
/// <item>Without <c>X-Kheish-Session-Id</c> (or naming a session the daemon does not know) the
/// subject is the API key's principal: used as is when it is a subject id
/// (<c>agent:coder</c>, <c>apikey:k1</c>), else as <c>principal:&lt;name&gt;</c>; anonymous
/// access (relaxed/lax) is <c>principal:anonymous</c>. The scope is the key's.</item>
/// <item>With a known session, any authenticated key may act for it, but only within the
/// intersection of the key's scope and the session's (acting for a session never widens a
/// key), and only while neither the session subject nor the key's principal is revoked. The
/// lease is issued to <c>session:&lt;id&gt;</c>; the key's principal is its parent.</item>
/// </list>
/// </summary>
internal sealed record EgressSubject(SubjectId Subject, CredentialScope Scope, SubjectId? Parent)
{
    public static Result<EgressSubject> Resolve(string principal, ApiKeyScope? keyScope, SessionRecord? session)
    {
        if (!TryPrincipalSubject(principal, out SubjectId keySubject))
        {
            return KheishError.Forbidden(
                "invalid_principal",
                "the API key's principal cannot be used as a broker subject; give the key a principal of letters, digits and . _ - @ :");
        }

        CredentialScope scope = ToCredentialScope(keyScope);
        if (session is null)
        {
            return new EgressSubject(keySubject, scope, null);
        }

        if (!SubjectId.TryParse(session.SubjectId, out SubjectId sessionSubject))
        {
            return KheishError.Misconfigured("invalid_session_subject", $"session `{session.SessionId}` has an unusable subject id");
        }

        return new EgressSubject(sessionSubject, CredentialScope.Intersect(scope, session.Scope), keySubject);
    }

    /// <summary>The key's principal as a broker subject (see the type's remarks).</summary>
    public static bool TryPrincipalSubject(string principal, out SubjectId subject) =>
        SubjectId.TryParse(principal, out subject) || SubjectId.TryParse("principal:" + principal, out subject);

    /// <summary>An API key's scope lists as a broker scope (a missing list bounds nothing).</summary>
    public static CredentialScope ToCredentialScope(ApiKeyScope? scope) =>
        scope is null
            ? CredentialScope.Unrestricted
            : new CredentialScope
            {
                RouteAllow = scope.RouteAllow ?? [],
                RouteDeny = scope.RouteDeny ?? [],
                ConnectorAllow = scope.ConnectorAllow ?? [],
                ConnectorDeny = scope.ConnectorDeny ?? [],
                ConnectorCredentialAllow = scope.ConnectorCredentialAllow ?? [],
                ConnectorCredentialDeny = scope.ConnectorCredentialDeny ?? [],
                McpServerAllow = scope.McpServerAllow ?? [],
                McpServerDeny = scope.McpServerDeny ?? [],
            }.Normalize();
}
