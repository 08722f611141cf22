namespace Kheish.Core.Routes;

/// <summary>
/// One thing wrong with a routes file. <see cref="Message"/> names the route and field (or the
/// line and column for a TOML syntax error) and never a value from the file that could be a secret.
/// </summary>
internal sealed record RouteProblem(string Code, string Message, string? Route = null, string? Field = null);
