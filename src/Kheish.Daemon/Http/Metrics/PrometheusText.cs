using System.Globalization;
using System.Text;
using Kheish.Core.Metrics;

namespace Kheish.Daemon.Http.Metrics;

/// <summary>
/// The Prometheus text exposition format 0.0.4: <c># HELP</c> / <c># TYPE</c> once per family,
/// then samples <c>name{label="value",...} number</c>; label values escape <c>\</c>, <c>"</c> and
/// newline; histograms as cumulative <c>_bucket{le}</c> (ending at <c>+Inf</c>), <c>_sum</c>, <c>_count</c>.
/// </summary>
internal sealed class PrometheusText
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    private readonly StringBuilder _out = new(4096);

    public void Family(string name, string type, string help)
    {
        _out.Append("# HELP ").Append(name).Append(' ').Append(help.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal)).Append('\n');
        _out.Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
    }

    public void Sample(string name, ReadOnlySpan<(string Name, string Value)> labels, double value)
    {
        _out.Append(name);
        Labels(labels, null);
        _out.Append(' ').Append(Number(value)).Append('\n');
    }

    public void Histogram(string name, ReadOnlySpan<(string Name, string Value)> labels, Histogram histogram)
    {
        (long[] cumulative, double sum, long count) = histogram.Snapshot();
        for (int i = 0; i < cumulative.Length; i++)
        {
            _out.Append(name).Append("_bucket");
            Labels(labels, i < histogram.Bounds.Length ? Number(histogram.Bounds[i]) : "+Inf");
            _out.Append(' ').Append(cumulative[i].ToString(CultureInfo.InvariantCulture)).Append('\n');
        }

        _out.Append(name).Append("_sum");
        Labels(labels, null);
        _out.Append(' ').Append(Number(sum)).Append('\n');
        _out.Append(name).Append("_count");
        Labels(labels, null);
        _out.Append(' ').Append(count.ToString(CultureInfo.InvariantCulture)).Append('\n');
    }

    public override string ToString() => _out.ToString();

    private void Labels(ReadOnlySpan<(string Name, string Value)> labels, string? le)
    {
        if (labels.Length == 0 && le is null)
        {
            return;
        }

        _out.Append('{');
        bool first = true;
        foreach ((string n, string v) in labels)
        {
            if (!first)
            {
                _out.Append(',');
            }

            first = false;
            _out.Append(n).Append("=\"").Append(Escape(v)).Append('"');
        }

        if (le is not null)
        {
            _out.Append(first ? "" : ",").Append("le=\"").Append(le).Append('"');
        }

        _out.Append('}');
    }

    private static string Escape(string v) =>
        v.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    private static string Number(double v) =>
        double.IsPositiveInfinity(v) ? "+Inf" : double.IsNegativeInfinity(v) ? "-Inf" : double.IsNaN(v) ? "NaN" : v.ToString("R", CultureInfo.InvariantCulture);
}
