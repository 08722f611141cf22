using System.Diagnostics.CodeAnalysis;

namespace Kheish.Core.Errors;

/// <summary>Either a value or a <see cref="KheishError"/>.</summary>
internal readonly struct Result<T>
{
    private readonly T? _value;

    private Result(T? value, KheishError? error)
    {
        _value = value;
        Error = error;
    }

    public KheishError? Error { get; }

    [MemberNotNullWhen(false, nameof(Error))]
    public bool IsOk => Error is null;

    public T Value => Error is null ? _value! : throw new KheishException(Error);

    public static Result<T> Ok(T value) => new(value, null);

    public static Result<T> Fail(KheishError error) => new(default, error);

    public static implicit operator Result<T>(T value) => Ok(value);

    public static implicit operator Result<T>(KheishError error) => Fail(error);

    public bool TryGetValue([MaybeNullWhen(false)] out T value, [NotNullWhen(false)] out KheishError? error)
    {
        value = _value;
        error = Error;
        return Error is null;
    }
}
