using System.Text.Json.Serialization.Metadata;
using Kheish.Core.Errors;

namespace Kheish.Daemon.Http;

internal static class ResultExtensions
{
    /// <summary>200 with the value in its concept's JSON context, or the error's problem.</summary>
    public static IResult ToHttp<T>(this Result<T> result, JsonTypeInfo<T> type) =>
        result.TryGetValue(out T? value, out KheishError? error)
            ? TypedResults.Json(value, type)
            : ProblemResults.Result(error);
}
