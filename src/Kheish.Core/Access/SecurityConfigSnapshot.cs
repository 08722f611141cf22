using System.Diagnostics.CodeAnalysis;
using Kheish.Core.Errors;

namespace Kheish.Core.Access;

/// <summary>
/// The security configuration in effect at one instant: which file it came from and either the
/// validated config or the reason it is unusable (then the agent plane refuses everything).
/// </summary>
internal sealed record SecurityConfigSnapshot(SecurityConfigOrigin Origin, string? File, SecurityConfig? Config, KheishError? Error)
{
    public static SecurityConfigSnapshot Default { get; } = new(SecurityConfigOrigin.Default, null, SecurityConfig.Default, null);

    [MemberNotNullWhen(true, nameof(Config))]
    [MemberNotNullWhen(false, nameof(Error))]
    public bool IsValid => Error is null && Config is not null;

    public static SecurityConfigSnapshot Valid(SecurityConfigOrigin origin, string? file, SecurityConfig config) => new(origin, file, config, null);

    public static SecurityConfigSnapshot Invalid(SecurityConfigOrigin origin, string? file, KheishError error) => new(origin, file, null, error);

    /// <summary>"project", "global" or "default": the origin as status and json output name it.</summary>
    public string OriginName => Origin switch
    {
        SecurityConfigOrigin.Project => "project",
        SecurityConfigOrigin.Global => "global",
        _ => "default",
    };

    /// <summary>Human description of where the policy comes from, for status output and logs.</summary>
    public string Describe() => Origin switch
    {
        SecurityConfigOrigin.Project => $"project file {File}",
        SecurityConfigOrigin.Global => $"global file {File}",
        _ => "no security.json found: built-in default (strict, no keys: every agent request is refused until a key is generated)",
    };
}
