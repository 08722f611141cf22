namespace Kheish.Core.Limits;

/// <summary>Provider tokens one call used, as the upstream reported them.</summary>
internal readonly record struct TokenUsage(long Input, long Output)
{
    public long Total => Input + Output;
}
