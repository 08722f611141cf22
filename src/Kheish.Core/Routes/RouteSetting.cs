namespace Kheish.Core.Routes;

/// <summary>A non-secret route setting given literally (<c>organization</c>) or by environment variable (<c>organization_env</c>).</summary>
internal abstract record RouteSetting
{
    public abstract string? Resolve(Func<string, string?> environment);

    internal sealed record Literal(string Value) : RouteSetting
    {
        public override string? Resolve(Func<string, string?> environment) => Value;

        public override string ToString() => Value;
    }

    internal sealed record FromEnvironment(string VariableName) : RouteSetting
    {
        public override string? Resolve(Func<string, string?> environment) =>
            environment(VariableName) is { Length: > 0 } v ? v : null;

        public override string ToString() => $"env {VariableName}";
    }
}
