using Kheish.Daemon.Http;
using Kheish.Daemon.Tests.Support;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Kheish.Daemon.Tests.Serve;

public sealed class LastResortMiddlewareTests
{
    private sealed class CapturingLogger : ILogger<LastResortMiddleware>
    {
        public List<string> Lines { get; } = [];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Lines.Add(formatter(state, exception) + (exception is null ? "" : " " + exception));
    }

    [Test]
    public async Task An_escaping_exception_becomes_a_500_problem_without_its_message_in_body_or_log()
    {
        string canary = Canary.New("exception");
        var logger = new CapturingLogger();
        var middleware = new LastResortMiddleware(_ => throw new InvalidOperationException("boom " + canary), logger);
        var context = new DefaultHttpContext();
        context.Request.Method = "POST";
        context.Request.Path = "/v1/runtime/secrets";
        context.Response.Body = new MemoryStream();

        await middleware.InvokeAsync(context);

        context.Response.Body.Position = 0;
        string body = await new StreamReader(context.Response.Body).ReadToEndAsync();
        await Assert.That(context.Response.StatusCode).IsEqualTo(500);
        await Assert.That(context.Response.ContentType).IsEqualTo("application/problem+json");
        await Assert.That(body).Contains("\"code\":\"internal_error\"");
        await Assert.That(string.Join("\n", logger.Lines)).Contains("InvalidOperationException");
        Canary.AssertAbsent(canary, body, "problem body");
        Canary.AssertAbsent(canary, string.Join("\n", logger.Lines), "log");
    }
}
