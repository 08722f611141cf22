using System.Text.Json.Serialization;

namespace Kheish.Core.Connectors;

/// <summary>The four kinds of connector (issue 15). The name is the path segment and the JSON value.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<ConnectorKind>))]
internal enum ConnectorKind
{
    /// <summary>A sidecar process the daemon supervises; it fetches credentials with a connector lease.</summary>
    [JsonStringEnumMemberName("external")]
    External,

    /// <summary>Generic webhook ingress authenticated by a per-connector bearer token.</summary>
    [JsonStringEnumMemberName("http")]
    Http,

    /// <summary>Slack Events API ingress (v0 request signature) and Web API delivery.</summary>
    [JsonStringEnumMemberName("slack")]
    Slack,

    /// <summary>Telegram webhook ingress (secret token header) and Bot API delivery.</summary>
    [JsonStringEnumMemberName("telegram")]
    Telegram,
}

internal static class ConnectorKinds
{
    public static IReadOnlyList<string> Names { get; } = ["external", "http", "slack", "telegram"];

    public static string Name(this ConnectorKind kind) => kind switch
    {
        ConnectorKind.External => "external",
        ConnectorKind.Http => "http",
        ConnectorKind.Slack => "slack",
        ConnectorKind.Telegram => "telegram",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    public static ConnectorKind? Parse(string? text) => text switch
    {
        "external" => ConnectorKind.External,
        "http" => ConnectorKind.Http,
        "slack" => ConnectorKind.Slack,
        "telegram" => ConnectorKind.Telegram,
        _ => null,
    };
}
