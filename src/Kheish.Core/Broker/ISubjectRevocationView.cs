namespace Kheish.Core.Broker;

/// <summary>What other registries (sessions, API keys) need to know from the broker.</summary>
internal interface ISubjectRevocationView
{
    bool IsSubjectRevoked(SubjectId subject);
}
