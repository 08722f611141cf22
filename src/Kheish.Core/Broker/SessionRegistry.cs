using System.Security.Cryptography;
using System.Text.Json;
using Kheish.Core.Errors;
using Kheish.Core.Storage;

namespace Kheish.Core.Broker;

/// <summary>
/// Session subjects created by the control plane (<c>POST /v1/sessions</c>): each has a
/// credential scope and an optional parent session whose scope it can only narrow. Stored in
/// <c>auth/sessions.json</c> through the same codec as the broker state, written durably
/// before <see cref="Create"/> returns. Thread-safe.
/// </summary>
internal sealed class SessionRegistry
{
    public const string FileName = "sessions.json";
    public const int MaxSessionIdLength = 128;

    private readonly Lock _gate = new();
    private readonly string _path;
    private readonly IStateFileCodec _codec;
    private readonly TimeProvider _clock;
    private readonly ISubjectRevocationView? _revocations;
    private readonly Dictionary<string, SessionRecord> _sessions = new(StringComparer.Ordinal);

    private SessionRegistry(string path, IStateFileCodec codec, TimeProvider clock, ISubjectRevocationView? revocations)
    {
        _path = path;
        _codec = codec;
        _clock = clock;
        _revocations = revocations;
    }

    public static string PathFor(StateRoot root) => Path.Combine(root.AuthDirectory, FileName);

    public static Result<SessionRegistry> Open(
        StateRoot root, IStateFileCodec codec, ISubjectRevocationView? revocations = null, TimeProvider? clock = null) =>
        Open(PathFor(root), codec, clock ?? TimeProvider.System, revocations);

    public static Result<SessionRegistry> Open(string path, IStateFileCodec codec, TimeProvider clock, ISubjectRevocationView? revocations)
    {
        var registry = new SessionRegistry(path, codec, clock, revocations);
        byte[]? file;
        try
        {
            file = AtomicFile.ReadOrNull(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return Unreadable(path, "it cannot be read");
        }

        if (file is null)
        {
            return registry;
        }

        if (!codec.Decode(file, SessionState.Purpose).TryGetValue(out byte[]? json, out KheishError? decodeError))
        {
            return decodeError;
        }

        SessionState? state;
        try
        {
            state = JsonSerializer.Deserialize(json, BrokerJsonContext.Default.SessionState);
        }
        catch (JsonException)
        {
            return Unreadable(path, "it is not a valid sessions document");
        }

        if (state is null || state.Version != SessionState.CurrentVersion)
        {
            return Unreadable(path, $"its version is not {SessionState.CurrentVersion}");
        }

        foreach (var (id, record) in state.Sessions)
        {
            if (!string.Equals(id, record.SessionId, StringComparison.Ordinal) || record.Scope is null)
            {
                return Unreadable(path, $"session `{id}` is malformed");
            }

            registry._sessions[id] = record;
        }

        return registry;
    }

    /// <summary>
    /// Creates a session. <paramref name="sessionId"/> null = a fresh random id. With a parent,
    /// the requested scope must lie inside the parent's (else scope_widens_parent) and the
    /// stored scope is their intersection.
    /// </summary>
    public Result<SessionRecord> Create(string? sessionId, CredentialScope requestedScope, string? parentSessionId, Policy.CapabilityScope? capability = null)
    {
        string id = sessionId ?? "ses-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        if (!IsValidSessionId(id))
        {
            return KheishError.BadRequest(
                "invalid_session_id",
                $"a session id is 1 to {MaxSessionIdLength} letters, digits, '.', '_' or '-'");
        }

        if (!requestedScope.Validated().TryGetValue(out CredentialScope? scope, out KheishError? scopeError))
        {
            return scopeError;
        }

        if (capability?.Validate() is { } capabilityProblem)
        {
            return KheishError.BadRequest("invalid_capability_scope", capabilityProblem);
        }

        lock (_gate)
        {
            if (_revocations?.IsSubjectRevoked(SubjectId.ForSession(id)) == true)
            {
                return KheishError.Conflict(BrokerErrors.SubjectRevoked,
                    $"session `{id}` has been revoked; a revoked session id is never reused, create the session under another id");
            }

            if (_sessions.ContainsKey(id))
            {
                return KheishError.Conflict("session_exists", $"session `{id}` already exists");
            }

            if (parentSessionId is not null)
            {
                if (!_sessions.TryGetValue(parentSessionId, out SessionRecord? parent))
                {
                    return KheishError.NotFound("parent_session_not_found", $"parent session `{parentSessionId}` does not exist");
                }

                if (_revocations?.IsSubjectRevoked(SubjectId.ForSession(parentSessionId)) == true)
                {
                    return KheishError.Conflict(BrokerErrors.SubjectRevoked, $"parent session `{parentSessionId}` has been revoked; a child of a revoked session cannot be created");
                }

                if (!CredentialScope.Narrow(parent.Scope, scope).TryGetValue(out scope, out KheishError? narrowError))
                {
                    return narrowError;
                }

                if (!Policy.CapabilityScope.Narrow(parent.CapabilityScope, capability).TryGetValue(out capability, out narrowError))
                {
                    return narrowError;
                }
            }

            var record = new SessionRecord(id, SubjectId.ForSession(id).Value, scope, parentSessionId, _clock.GetUtcNow().ToUnixTimeMilliseconds(),
                capability is { IsUnrestricted: false } ? capability : null);
            _sessions.Add(id, record);
            if (Save() is { } saveError)
            {
                _sessions.Remove(id);
                return saveError;
            }

            return record;
        }
    }

    public SessionRecord? Get(string sessionId)
    {
        lock (_gate)
        {
            return _sessions.GetValueOrDefault(sessionId);
        }
    }

    public IReadOnlyList<SessionRecord> List()
    {
        lock (_gate)
        {
            return [.. _sessions.Values.OrderBy(s => s.SessionId, StringComparer.Ordinal)];
        }
    }

    /// <summary>The session and every session created under it, transitively (for cascading revocation).</summary>
    public IReadOnlyList<string> WithDescendants(string sessionId)
    {
        lock (_gate)
        {
            var result = new List<string>();
            var pending = new Queue<string>([sessionId]);
            while (pending.TryDequeue(out string? current))
            {
                if (!_sessions.ContainsKey(current) || result.Contains(current, StringComparer.Ordinal))
                {
                    continue;
                }

                result.Add(current);
                foreach (SessionRecord child in _sessions.Values)
                {
                    if (string.Equals(child.ParentSessionId, current, StringComparison.Ordinal))
                    {
                        pending.Enqueue(child.SessionId);
                    }
                }
            }

            return result;
        }
    }

    public static bool IsValidSessionId(string id) =>
        id.Length is > 0 and <= MaxSessionIdLength && id.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');

    private KheishError? Save()
    {
        var state = new SessionState { Sessions = new Dictionary<string, SessionRecord>(_sessions, StringComparer.Ordinal) };
        byte[] json = JsonSerializer.SerializeToUtf8Bytes(state, BrokerJsonContext.Default.SessionState);
        try
        {
            AtomicFile.Write(_path, _codec.Encode(json, SessionState.Purpose));
            return null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return KheishError.Unavailable(
                "sessions_unavailable",
                $"the session could not be written to {_path} ({IoReason.Of(ex)}); fix the state root and retry");
        }
    }

    private static KheishError Unreadable(string path, string why) =>
        KheishError.Misconfigured("sessions_unreadable", $"the sessions file {path} is unusable: {why}. Restore it from a backup.");
}
