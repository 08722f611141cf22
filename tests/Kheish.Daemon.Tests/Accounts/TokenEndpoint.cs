using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using Kheish.Daemon.Tests.Egress;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Accounts;

/// <summary>One refresh request the stand-in token endpoint received.</summary>
public sealed record TokenRequest(string Path, string ContentType, JsonElement Body)
{
    public string? Field(string name) => Body.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
}

/// <summary>
/// A loopback OAuth token endpoint written for these tests: answers refresh-token grants with a
/// rotated pair of fresh canary tokens (Codex-style JWT access tokens when asked), and can be
/// told to be slow, to fail, or to grant extra scopes.
/// </summary>
public sealed class TokenEndpoint : IAsyncDisposable
{
    private readonly RecordingUpstream _server = new();

    public TokenEndpoint()
    {
        _server.Handler = AnswerAsync;
    }

    public string BaseUrl => _server.BaseUrl;

    public ConcurrentQueue<TokenRequest> Requests { get; } = new();

    /// <summary>Every access and refresh token this endpoint issued, newest last.</summary>
    public ConcurrentQueue<(string Access, string Refresh)> Issued { get; } = new();

    public TimeSpan Delay { get; set; }

    /// <summary>When set, answer with this status and an OAuth error body.</summary>
    public int? FailStatus { get; set; }

    /// <summary>When set, the "scope" member of the answer.</summary>
    public string? GrantScope { get; set; }

    public bool JwtAccessTokens { get; set; }

    public (string Access, string Refresh) Latest => Issued.Last();

    private async Task AnswerAsync(UpstreamRequest request, HttpListenerResponse response)
    {
        using (JsonDocument doc = JsonDocument.Parse(request.Body))
        {
            Requests.Enqueue(new TokenRequest(request.PathAndQuery, request.Header("Content-Type") ?? "", doc.RootElement.Clone()));
        }

        if (Delay > TimeSpan.Zero)
        {
            await Task.Delay(Delay);
        }

        response.ContentType = "application/json";
        if (FailStatus is { } status)
        {
            response.StatusCode = status;
            await RecordingUpstream.WriteAsync(response, "{\"error\":\"invalid_grant\",\"error_description\":\"refresh token already used\"}");
            return;
        }

        string access = JwtAccessTokens
            ? AccountFixtures.Jwt(DateTimeOffset.UtcNow.AddHours(1), marker: Canary.New("newaccess"))
            : Canary.New("newaccess");
        string refresh = Canary.New("newrefresh");
        Issued.Enqueue((access, refresh));
        var answer = new Dictionary<string, object>
        {
            ["access_token"] = access,
            ["refresh_token"] = refresh,
            ["expires_in"] = 3600,
            ["token_type"] = "Bearer",
        };
        if (GrantScope is not null)
        {
            answer["scope"] = GrantScope;
        }

        response.StatusCode = 200;
        await RecordingUpstream.WriteAsync(response, JsonSerializer.Serialize(answer));
    }

    public ValueTask DisposeAsync() => _server.DisposeAsync();
}
