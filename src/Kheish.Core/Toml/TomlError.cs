using Kheish.Core.Errors;

namespace Kheish.Core.Toml;

/// <summary>
/// Why a document is not TOML, and where. The reason is a fixed phrase: it never quotes the
/// source, because a TOML file (a routes file) can hold API keys.
/// </summary>
internal sealed record TomlError(int Line, int Column, string Reason)
{
    public const string Code = "toml_invalid";

    public override string ToString() => $"line {Line}, column {Column}: {Reason}";

    /// <summary>The error as a <see cref="KheishError"/>, prefixed with what was read (a file name, never its content).</summary>
    public KheishError ToKheishError(string? source = null) =>
        KheishError.BadRequest(Code, source is null ? $"invalid TOML at {this}" : $"{source}: invalid TOML at {this}");
}

/// <summary>Thrown inside the parser; <see cref="TomlReader"/> turns it into a result.</summary>
internal sealed class TomlException(TomlError error) : Exception(error.ToString())
{
    public TomlError Error { get; } = error;
}
