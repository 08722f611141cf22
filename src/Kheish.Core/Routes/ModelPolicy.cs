using System.Text;
using System.Text.Json;
using Kheish.Core.Errors;

namespace Kheish.Core.Routes;

/// <summary>
/// A route's model rules applied to a JSON request body: a body without a top-level
/// <c>model</c> gets the route's <c>default_model</c>; with <c>model_support = "family"</c> (the
/// default) a model of another provider's family (e.g. <c>claude-*</c> on an openai route) is
/// refused with <c>model_not_allowed</c>; <c>any</c> allows every name. OpenRouter routes serve
/// every family (<c>vendor/model</c> names), so only the default is filled in there.
/// </summary>
internal static class ModelPolicy
{
    private static readonly (ProviderDriver Driver, string[] Prefixes)[] Families =
    [
        (ProviderDriver.Anthropic, ["claude"]),
        (ProviderDriver.Google, ["gemini", "gemma", "models/gemini", "models/gemma"]),
        (ProviderDriver.XAI, ["grok"]),
        (ProviderDriver.OpenAI, ["gpt-", "gpt4", "chatgpt", "o1", "o3", "o4", "text-embedding", "dall-e", "whisper", "tts-", "davinci", "babbage", "omni-moderation"]),
    ];

    /// <summary>
    /// The body to send (the same array when nothing changed), or the refusal. Bodies that are not
    /// a JSON object are passed through untouched (the upstream judges them).
    /// </summary>
    public static Result<byte[]> Apply(RouteDefinition route, byte[] body)
    {
        if (!TryReadModel(body, out bool isObject, out string? model) || !isObject)
        {
            return body;
        }

        if (model is null)
        {
            return string.IsNullOrEmpty(route.DefaultModel) ? body : WithModel(body, route.DefaultModel);
        }

        if (route.ModelSupport == ModelSupport.Family && ForeignFamily(route.Driver, model) is { } owner)
        {
            return KheishError.BadRequest("model_not_allowed",
                $"model `{Printable(model)}` belongs to the {owner.Name} family, but route `{route.Id}` is a {route.Driver.Name} route (model_support = \"family\"); " +
                $"use a {owner.Name} route or set model_support = \"any\" on this route");
        }

        return body;
    }

    /// <summary>The driver whose family <paramref name="model"/> belongs to, when that is not <paramref name="driver"/>; null otherwise.</summary>
    public static ProviderDriver? ForeignFamily(ProviderDriver driver, string model)
    {
        if (ReferenceEquals(driver, ProviderDriver.OpenRouter))
        {
            return null;
        }

        foreach ((ProviderDriver owner, string[] prefixes) in Families)
        {
            foreach (string prefix in prefixes)
            {
                if (model.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
                {
                    return ReferenceEquals(owner, driver) ? null : owner;
                }
            }
        }

        return null;
    }

    private static bool TryReadModel(byte[] body, out bool isObject, out string? model)
    {
        isObject = false;
        model = null;
        var reader = new Utf8JsonReader(body, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow, MaxDepth = 256 });
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return true;
            }

            isObject = true;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                bool isModel = reader.ValueTextEquals("model"u8);
                if (!reader.Read())
                {
                    return false;
                }

                if (isModel)
                {
                    // A non-string model is the upstream's to refuse; only a string is judged here.
                    model = reader.TokenType == JsonTokenType.String ? reader.GetString()! : string.Empty;
                    return true;
                }

                reader.Skip();
            }

            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static byte[] WithModel(byte[] body, string model)
    {
        int brace = Array.IndexOf(body, (byte)'{');
        int next = brace + 1;
        while (next < body.Length && body[next] is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n')
        {
            next++;
        }

        bool empty = next < body.Length && body[next] == (byte)'}';
        byte[] member = Encoding.UTF8.GetBytes("\"model\":\"" + JsonEncodedText.Encode(model) + "\"" + (empty ? "" : ","));
        var result = new byte[body.Length + member.Length];
        body.AsSpan(0, brace + 1).CopyTo(result);
        member.CopyTo(result.AsSpan(brace + 1));
        body.AsSpan(brace + 1).CopyTo(result.AsSpan(brace + 1 + member.Length));
        return result;
    }

    private static string Printable(string s) =>
        s.Length <= 64 && s.All(c => c is > ' ' and <= '~' && c != '`') ? s : "(unprintable or too long)";
}
