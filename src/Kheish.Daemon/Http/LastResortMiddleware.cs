using Kheish.Core.Errors;

namespace Kheish.Daemon.Http;

/// <summary>
/// The outermost handler. An exception escaping an endpoint becomes a problem+json 500 and a
/// log line naming only the exception type and path: framework logging would print the message
/// and stack trace, which can carry request material. If the response already started, the
/// connection is aborted instead.
/// </summary>
internal sealed partial class LastResortMiddleware(RequestDelegate next, ILogger<LastResortMiddleware> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        try
        {
            await next(context);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away; nothing to answer.
        }
#pragma warning disable CA1031 // The boundary of the process: report the type, never the message.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            string type = ex.GetType().Name;
            string path = context.Request.Path.Value ?? "/";
            LogUnhandled(logger, type, context.Request.Method, path);
            if (context.Response.HasStarted)
            {
                context.Abort();
                return;
            }

            context.Response.Clear();
            await ProblemResults.WriteAsync(context, new KheishError(
                "internal_error", ErrorKind.Misconfigured, "internal error; the daemon log names the failure and the request path"));
        }
    }

    [LoggerMessage(EventId = 50, Level = LogLevel.Error, Message = "unhandled {ExceptionType} in {Method} {Path}")]
    private static partial void LogUnhandled(ILogger logger, string exceptionType, string method, string path);
}
