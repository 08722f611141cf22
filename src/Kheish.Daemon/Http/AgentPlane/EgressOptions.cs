namespace Kheish.Daemon.Http.AgentPlane;

/// <summary>
/// Limits of the egress proxy (serve flags <c>--egress-max-body-bytes</c>,
/// <c>--egress-timeout-seconds</c>, <c>--egress-max-concurrency</c>). The timeout bounds the
/// wait for the upstream's response headers and then every wait for the next body chunk, so a
/// long server-sent-event stream that keeps producing is never cut.
/// </summary>
internal sealed record EgressOptions(long MaxBodyBytes, TimeSpan UpstreamTimeout, int MaxConcurrencyPerRoute)
{
    public const long DefaultMaxBodyBytes = 10L * 1024 * 1024;
    public const int DefaultTimeoutSeconds = 300;
    public const int DefaultMaxConcurrency = 64;

    public static EgressOptions Default { get; } =
        new(DefaultMaxBodyBytes, TimeSpan.FromSeconds(DefaultTimeoutSeconds), DefaultMaxConcurrency);
}
