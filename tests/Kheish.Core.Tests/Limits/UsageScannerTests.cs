using System.Text;
using FsCheck;
using FsCheck.Fluent;
using Kheish.Core.Limits;

namespace Kheish.Core.Tests.Limits;

public sealed class UsageScannerTests
{
    private const string OpenAiChat =
        """{"id":"c1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"say \"usage\":{\"prompt_tokens\":999}"}}],"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18,"prompt_tokens_details":{"cached_tokens":5},"completion_tokens_details":{"reasoning_tokens":3}}}""";

    private const string OpenAiStream =
        "data: {\"id\":\"c\",\"choices\":[{\"delta\":{\"content\":\"Hi\"}}],\"usage\":null}\n\n" +
        "data: {\"id\":\"c\",\"choices\":[{\"delta\":{\"content\":\" there\"}}],\"usage\":null}\n\n" +
        "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":20,\"completion_tokens\":9,\"total_tokens\":29}}\n\n" +
        "data: [DONE]\n\n";

    private const string AnthropicStream =
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"usage\":{\"input_tokens\":25,\"cache_read_input_tokens\":4,\"output_tokens\":1}}}\n\n" +
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"{\\\"usage\\\":{\\\"output_tokens\\\":1}}\"}}\n\n" +
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":15}}\n\n" +
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

    private const string ResponsesStream =
        "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"r\",\"usage\":null}}\n\n" +
        "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"r\",\"usage\":{\"input_tokens\":40,\"output_tokens\":12,\"total_tokens\":52}}}\n\n";

    private static TokenUsage? Scan(string text, bool stream, int chunk = int.MaxValue)
    {
        var scanner = new UsageScanner(stream);
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        for (int i = 0; i < bytes.Length; i += chunk)
        {
            scanner.Feed(bytes.AsSpan(i, Math.Min(chunk, bytes.Length - i)));
        }

        return scanner.Usage;
    }

    [Test]
    public async Task OpenAi_chat_usage_is_read_and_text_that_looks_like_usage_is_not()
    {
        await Assert.That(Scan(OpenAiChat, stream: false)).IsEqualTo(new TokenUsage(11, 7));
    }

    [Test]
    public async Task OpenAi_stream_usage_comes_from_the_final_chunk()
    {
        await Assert.That(Scan(OpenAiStream, stream: true)).IsEqualTo(new TokenUsage(20, 9));
    }

    [Test]
    public async Task Anthropic_stream_takes_input_from_message_start_and_output_from_message_delta()
    {
        await Assert.That(Scan(AnthropicStream, stream: true)).IsEqualTo(new TokenUsage(29, 15));
    }

    [Test]
    public async Task Responses_stream_usage_is_read_from_the_nested_response_object()
    {
        await Assert.That(Scan(ResponsesStream, stream: true)).IsEqualTo(new TokenUsage(40, 12));
    }

    [Test]
    public async Task An_answer_without_usage_reports_none()
    {
        await Assert.That(Scan("""{"id":"x","choices":[{"message":{"content":"usage"}}],"usage":null}""", stream: false)).IsNull();
    }

    [Test]
    public async Task A_malformed_event_does_not_hide_the_usage_of_a_later_one()
    {
        string text = "data: {\"broken\":\"unterminated\n\ndata: {\"oops\":{{{\n\n" + OpenAiStream;
        await Assert.That(Scan(text, stream: true)).IsEqualTo(new TokenUsage(20, 9));
    }

    [Test]
    public void Any_split_of_the_stream_into_chunks_gives_the_same_usage()
    {
        string[] bodies = [OpenAiChat, OpenAiStream, AnthropicStream, ResponsesStream];
        TokenUsage?[] expected = [.. bodies.Select(b => Scan(b, stream: b != OpenAiChat))];
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(400), Prop.ForAll(Gen.Zip(Gen.Choose(0, 3), Gen.Choose(1, 64)).ToArbitrary(), pick =>
            Scan(bodies[pick.Item1], stream: pick.Item1 != 0, chunk: pick.Item2) == expected[pick.Item1]));
    }

    [Test]
    public void Model_text_never_raises_or_lowers_the_count()
    {
        // Whatever the model writes (quotes, braces, backslashes, "usage" lookalikes) is inside a
        // JSON string: the usage read is the real one.
        Gen<string> text = Gen.ArrayOf(Gen.Elements("\\\"", "\\\\", "{", "}", "[", "usage", ":", "\\n", "9", ",", "output_tokens", "a", " "), 30)
            .Select(parts => string.Concat(parts));
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(500), Prop.ForAll(text.ToArbitrary(), t =>
        {
            string body = "data: {\"choices\":[{\"delta\":{\"content\":\"" + t + "\"}}],\"usage\":null}\n\n" +
                "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}\n\n";
            return Scan(body, stream: true) == new TokenUsage(3, 4);
        }));
    }
}
