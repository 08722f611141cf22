using System.Text.Json.Serialization;

namespace Kheish.Core.Broker;

/// <summary>The broker's JSON boundary: state files, scope documents and operator views.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    WriteIndented = false)]
[JsonSerializable(typeof(BrokerState))]
[JsonSerializable(typeof(BrokerJournalRecord))]
[JsonSerializable(typeof(CredentialScope))]
[JsonSerializable(typeof(SubjectStatus))]
[JsonSerializable(typeof(LeaseStatus))]
[JsonSerializable(typeof(SubjectRevocation))]
[JsonSerializable(typeof(SlotRevocation))]
[JsonSerializable(typeof(CredentialLease))]
[JsonSerializable(typeof(CredentialGrant))]
[JsonSerializable(typeof(SessionState))]
[JsonSerializable(typeof(SessionRecord))]
internal sealed partial class BrokerJsonContext : JsonSerializerContext;
