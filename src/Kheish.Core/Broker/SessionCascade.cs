using Kheish.Core.Errors;

namespace Kheish.Core.Broker;

/// <summary>
/// Revoking a session revokes every session created under it, transitively: a child's scope
/// was granted through its parent, so it cannot outlive it. Each revocation is durable before
/// the next; the call is acknowledged only after the last. The parent goes first, and egress
/// also refuses a session with any revoked ancestor, so a crash half-way leaves nothing usable.
/// </summary>
internal static class SessionCascade
{
    public const string SessionPrefix = "session:";

    public static Result<SubjectRevocation> Revoke(CredentialBroker broker, SessionRegistry? sessions, SubjectId subject)
    {
        if (!broker.RevokeSubject(subject).TryGetValue(out SubjectRevocation? revocation, out KheishError? error))
        {
            return error;
        }

        if (sessions is null || !subject.Value.StartsWith(SessionPrefix, StringComparison.Ordinal))
        {
            return revocation;
        }

        var cascaded = new List<string>();
        var leases = new List<string>(revocation.RevokedLeases);
        foreach (string descendant in sessions.WithDescendants(subject.Value[SessionPrefix.Length..]).Skip(1))
        {
            SubjectId child = SubjectId.ForSession(descendant);
            if (!broker.RevokeSubject(child).TryGetValue(out SubjectRevocation? childRevocation, out error))
            {
                return error;
            }

            cascaded.Add(child.Value);
            leases.AddRange(childRevocation.RevokedLeases);
        }

        return revocation with { RevokedLeases = [.. leases.Order(StringComparer.Ordinal)], CascadedSubjects = cascaded };
    }

    /// <summary>The first revoked session among <paramref name="session"/>'s ancestors, or null.</summary>
    public static string? RevokedAncestor(SessionRegistry sessions, ISubjectRevocationView revocations, SessionRecord session)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        string? parent = session.ParentSessionId;
        while (parent is not null && seen.Add(parent))
        {
            SubjectId id = SubjectId.ForSession(parent);
            if (revocations.IsSubjectRevoked(id))
            {
                return id.Value;
            }

            parent = sessions.Get(parent)?.ParentSessionId;
        }

        return null;
    }
}
