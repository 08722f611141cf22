using System.Text.Json.Serialization;

namespace Kheish.Core.Secrets;

/// <summary>Who a slot's credential is for. The wire names are the snake_case strings.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<SlotProvider>))]
internal enum SlotProvider
{
    [JsonStringEnumMemberName("generic")]
    Generic,
    [JsonStringEnumMemberName("openai")]
    OpenAi,
    [JsonStringEnumMemberName("anthropic")]
    Anthropic,
    [JsonStringEnumMemberName("google")]
    Google,
    [JsonStringEnumMemberName("openrouter")]
    OpenRouter,
    [JsonStringEnumMemberName("xai")]
    Xai,
    [JsonStringEnumMemberName("mcp_oauth")]
    McpOauth,
}

/// <summary>How a slot's state is shaped.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<SlotMode>))]
internal enum SlotMode
{
    /// <summary>State <c>{"value": "..."}</c>: a secret the daemon hands on without knowing what it is.</summary>
    [JsonStringEnumMemberName("opaque_secret")]
    OpaqueSecret,

    /// <summary>State <c>{"api_key": "..."}</c>: a static provider API key.</summary>
    [JsonStringEnumMemberName("api_key")]
    ApiKey,

    /// <summary>State: a provider-specific account object (OAuth tokens and their metadata).</summary>
    [JsonStringEnumMemberName("oauth_account")]
    OauthAccount,
}

/// <summary>Wire names of <see cref="SlotProvider"/> and <see cref="SlotMode"/>, for CLI and HTTP parsing.</summary>
internal static class SlotNames
{
    public static readonly IReadOnlyList<string> Providers = ["generic", "openai", "anthropic", "google", "openrouter", "xai", "mcp_oauth"];

    public static readonly IReadOnlyList<string> Modes = ["opaque_secret", "api_key", "oauth_account"];

    public static string Name(this SlotProvider provider) => Providers[(int)provider];

    public static string Name(this SlotMode mode) => Modes[(int)mode];

    public static SlotProvider? ParseProvider(string? name) =>
        IndexOf(Providers, name) is int i ? (SlotProvider)i : null;

    public static SlotMode? ParseMode(string? name) =>
        IndexOf(Modes, name) is int i ? (SlotMode)i : null;

    /// <summary>The mode a provider gets when none is given.</summary>
    public static SlotMode DefaultMode(SlotProvider provider) => provider switch
    {
        SlotProvider.Generic => SlotMode.OpaqueSecret,
        SlotProvider.McpOauth => SlotMode.OauthAccount,
        _ => SlotMode.ApiKey,
    };

    private static int? IndexOf(IReadOnlyList<string> names, string? name)
    {
        for (int i = 0; i < names.Count; i++)
        {
            if (string.Equals(names[i], name, StringComparison.Ordinal))
            {
                return i;
            }
        }

        return null;
    }
}
