namespace Kheish.Core.Routes;

/// <summary>
/// Where a route's API key comes from. <see cref="ToString"/> describes the source and never
/// the key, so a route can be printed or logged safely.
/// </summary>
internal abstract record RouteCredential
{
    /// <summary>The routes-file field that configured it (<c>auth_ref</c>, <c>api_key</c>, <c>api_key_env</c>).</summary>
    public abstract string Field { get; }

    /// <summary>A slot of the secret store; its provider must match the route's driver.</summary>
    internal sealed record AuthRef(string SlotId) : RouteCredential
    {
        public override string Field => "auth_ref";

        public override string ToString() => $"auth_ref {SlotId}";
    }

    /// <summary>A key written in the routes file itself.</summary>
    internal sealed record InlineApiKey : RouteCredential
    {
        private readonly string _key;

        public InlineApiKey(string key) => _key = key;

        public override string Field => "api_key";

        /// <summary>The key, for the one place that injects it into an upstream request.</summary>
        public string Reveal() => _key;

        public override string ToString() => "api_key (inline in the routes file)";
    }

    /// <summary>A key read from an environment variable of the daemon.</summary>
    internal sealed record EnvApiKey(string VariableName) : RouteCredential
    {
        public override string Field => "api_key_env";

        public override string ToString() => $"api_key_env {VariableName}";
    }
}
