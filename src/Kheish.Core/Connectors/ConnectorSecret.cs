namespace Kheish.Core.Connectors;

/// <summary>
/// Where a connector's secret field comes from, as stored in <c>connectors.json</c>: a slot
/// (<c>secret_ref</c>, or <c>inline</c> when the daemon stored a written value into the slot
/// <c>connectors.&lt;name&gt;.&lt;KEY&gt;</c>) or a daemon environment variable (<c>env</c>).
/// Never the value itself.
/// </summary>
internal sealed record ConnectorSecret(string Source, string? SecretRef = null, string? Env = null)
{
    public const string Inline = "inline";
    public const string FromEnv = "env";
    public const string FromSecretRef = "secret_ref";

    /// <summary>The slot this field draws on (inline and secret_ref), or null for env.</summary>
    public string? SlotId => Source is Inline or FromSecretRef ? SecretRef : null;

    public ConnectorSecretView ToView() => new(true, Source, SecretRef, Env);
}

/// <summary>What a read shows of a secret field: whether it is set and where from. Never a value or digest.</summary>
internal sealed record ConnectorSecretView(bool Configured, string Source, string? SecretRef = null, string? Env = null);

/// <summary>
/// A secret field as written (PUT body): exactly one of <c>secret_ref</c> (an existing slot),
/// <c>env</c> (a variable of the daemon's environment) or <c>value</c> (stored into a slot).
/// </summary>
internal sealed record ConnectorSecretInput(string? SecretRef = null, string? Env = null, string? Value = null)
{
    public override string ToString() => $"ConnectorSecretInput {{ SecretRef = {SecretRef}, Env = {Env}, Value = {(Value is null ? "null" : "<redacted>")} }}";
}
