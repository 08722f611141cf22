using System.Diagnostics.CodeAnalysis;
using Kheish.Core.Errors;

namespace Kheish.Core.Broker;

/// <summary>
/// Who a lease is issued to: <c>agent:&lt;id&gt;</c>, <c>session:&lt;id&gt;</c>,
/// <c>connector:&lt;name&gt;</c>, an MCP server (<c>mcp:&lt;name&gt;</c>), an API key's principal (<c>apikey:&lt;id&gt;</c>,
/// <c>principal:&lt;id&gt;</c>) or <c>daemon</c>. Parsed once at the edge; the broker only
/// ever sees validated ids.
/// </summary>
internal readonly record struct SubjectId
{
    public const int MaxLength = 256;
    public const string Daemon = "daemon";

    private static readonly string[] Kinds = ["agent", "session", "connector", "mcp", "apikey", "principal"];

    private SubjectId(string value) => Value = value;

    public string Value { get; }

    public static SubjectId ForAgent(string id) => Parse("agent:" + id).Value;

    public static SubjectId ForSession(string id) => Parse("session:" + id).Value;

    public static SubjectId ForConnector(string name) => Parse("connector:" + name).Value;

    public static SubjectId ForMcpServer(string name) => Parse("mcp:" + name).Value;

    public static SubjectId ForApiKey(string id) => Parse("apikey:" + id).Value;

    public static SubjectId DaemonSubject { get; } = new(Daemon);

    public static Result<SubjectId> Parse(string? text)
    {
        if (TryParse(text, out SubjectId id))
        {
            return id;
        }

        return KheishError.BadRequest(
            "invalid_subject_id",
            "a subject id is `daemon` or `<kind>:<name>` with kind agent, session, connector, mcp, apikey or principal, " +
            $"and a name of letters, digits and . _ - @ : (at most {MaxLength} characters)");
    }

    public static bool TryParse([NotNullWhen(true)] string? text, out SubjectId id)
    {
        id = default;
        if (string.IsNullOrEmpty(text) || text.Length > MaxLength)
        {
            return false;
        }

        if (text == Daemon)
        {
            id = DaemonSubject;
            return true;
        }

        int colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0 || colon == text.Length - 1 || Array.IndexOf(Kinds, text[..colon]) < 0)
        {
            return false;
        }

        foreach (char c in text.AsSpan(colon + 1))
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' or '@' or ':'))
            {
                return false;
            }
        }

        id = new SubjectId(text);
        return true;
    }

    public override string ToString() => Value ?? string.Empty;
}
