using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.Extensions.Options;

namespace Kheish.Daemon.Http;

internal sealed record HealthResponse(string Status);

internal sealed record ReadyResponse(string Status, IReadOnlyDictionary<string, string> Checks);

internal sealed record ProblemDetailsBody(
    string Type,
    string Title,
    int Status,
    string Detail,
    string Code,
    string? Domain = null,
    string? Field = null,
    ProviderError? Error = null);

/// <summary>The provider-compatible error object (OpenAI / Anthropic SDKs print its message).</summary>
internal sealed record ProviderError(string Message, string Type, string Code);

/// <summary>The HTTP wire boundary. Same options as CLI json output (snake_case, nulls omitted).</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow)]
[JsonSerializable(typeof(HealthResponse))]
[JsonSerializable(typeof(ReadyResponse))]
[JsonSerializable(typeof(ProblemDetailsBody))]
[JsonSerializable(typeof(StatusResponse))]
[JsonSerializable(typeof(SecretWriteRequest))]
[JsonSerializable(typeof(SecretListResponse))]
[JsonSerializable(typeof(Kheish.Core.Secrets.SlotStatus))]
[JsonSerializable(typeof(AcceptedResponse))]
[JsonSerializable(typeof(RuntimeResponse))]
[JsonSerializable(typeof(AgentPlane.WhoAmIResponse))]
[JsonSerializable(typeof(SessionCreateRequest))]
[JsonSerializable(typeof(KeyCreateRequest))]
[JsonSerializable(typeof(IpEntryRequest))]
[JsonSerializable(typeof(ModeRequest))]
[JsonSerializable(typeof(TestActionRequest))]
[JsonSerializable(typeof(TestActionResponse))]
[JsonSerializable(typeof(UsageResponse))]
internal sealed partial class HttpJsonContext : JsonSerializerContext;

/// <summary>
/// A JSON body serialized synchronously into the response pipe, for the small bodies of the
/// read endpoints polled hardest (<c>/healthz</c>, <c>/readyz</c>, <c>/v1/status</c>,
/// <c>/agent/v1/whoami</c>).
/// <c>TypedResults.Ok</c> goes through <c>SerializeAsync</c> on the body stream (an async state
/// machine, a pooled buffer and a stream copy per response) with type information rebuilt for
/// the host's options, which differ from <see cref="HttpJsonContext"/>'s enough to rule out its
/// generated fast path: together a third of what /v1/status cost in a profile. Here the
/// context's own type information writes (fast path) through a writer with the host's encoder,
/// so the bytes are the same as before; the OpenAPI document still names the body's schema.
/// </summary>
internal sealed class PipeJsonResult<T>(T value, JsonTypeInfo<T> typeInfo, int statusCode = StatusCodes.Status200OK)
    : IResult, IEndpointMetadataProvider
{
    [ThreadStatic]
    private static Utf8JsonWriter? t_writer;

    public Task ExecuteAsync(HttpContext httpContext)
    {
        JavaScriptEncoder? encoder = httpContext.RequestServices.GetRequiredService<IOptions<JsonOptions>>().Value.SerializerOptions.Encoder;
        HttpResponse response = httpContext.Response;
        response.StatusCode = statusCode;
        response.ContentType = "application/json; charset=utf-8";
        // No await between taking and returning the writer: a thread's one writer is never shared.
        Utf8JsonWriter? writer = t_writer;
        if (writer is null || writer.Options.Encoder != encoder || writer.Options.Indented != typeInfo.Options.WriteIndented)
        {
            writer = t_writer = new Utf8JsonWriter(NullBufferWriter.Instance, new JsonWriterOptions
            {
                Encoder = encoder,
                Indented = typeInfo.Options.WriteIndented,
                SkipValidation = true,
            });
        }

        writer.Reset(response.BodyWriter);
        try
        {
            JsonSerializer.Serialize(writer, value, typeInfo);
            writer.Flush();
        }
        finally
        {
            writer.Reset(NullBufferWriter.Instance);
        }

        // Kestrel sends what the pipe holds when the request ends.
        return Task.CompletedTask;
    }

    public static void PopulateMetadata(System.Reflection.MethodInfo method, EndpointBuilder builder) =>
        builder.Metadata.Add(new ProducesResponseTypeMetadata(StatusCodes.Status200OK, typeof(T), ["application/json"]));

    /// <summary>Where an idle writer points, so it holds no reference to a finished response.</summary>
    private sealed class NullBufferWriter : System.Buffers.IBufferWriter<byte>
    {
        public static readonly NullBufferWriter Instance = new();

        public void Advance(int count) => throw new InvalidOperationException("an idle JSON writer was written to");

        public Memory<byte> GetMemory(int sizeHint = 0) => throw new InvalidOperationException("an idle JSON writer was written to");

        public Span<byte> GetSpan(int sizeHint = 0) => throw new InvalidOperationException("an idle JSON writer was written to");
    }
}
