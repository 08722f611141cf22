using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Serialization;
using Kheish.Core.Storage;

namespace Kheish.Daemon.Http.ControlPlane;

internal sealed record AuthAuditEvent(
    long TimestampMs,
    string Event,
    string Method,
    string Path,
    string Reason,
    string? Origin = null,
    string? RemoteAddr = null,
    string? RequiredAccess = null,
    string? Host = null);

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(AuthAuditEvent))]
internal sealed partial class AuthAuditJsonContext : JsonSerializerContext;

/// <summary>
/// <c>control-plane-auth/audit.jsonl</c> (0600): authentication failures, rate limiting, Host
/// and Origin rejections. Never the presented token, never a header value other than Origin and
/// Host (both truncated). Bounded: every field has a maximum length, so an entry stays under
/// <see cref="MaxEntryBytes"/>; the file rotates at <see cref="RotateBytes"/> keeping
/// <see cref="KeptFiles"/> files (audit.jsonl, .1, .2); events from a client past the failure
/// limit are not written but counted per reason (<see cref="Dropped"/>, shown in /v1/status).
/// </summary>
internal sealed class AuthAuditLog : IDisposable
{
    public const int MaxFieldChars = 256;
    public const int MaxEntryBytes = 2048;
    public const int KeptFiles = 3;
    private readonly object _gate = new();
    private readonly string _path;
    private readonly long _rotateBytes;
    private readonly ConcurrentDictionary<string, long> _dropped = new(StringComparer.Ordinal);
    private FileStream? _stream;

    public AuthAuditLog(StateRoot root, long rotateBytes = RotateBytes)
    {
        _path = root.ControlPlaneAuditFile;
        _rotateBytes = rotateBytes;
        PrivateDirectory.Ensure(Path.GetDirectoryName(_path)!);
        _stream = Open(_path);
    }

    public const long RotateBytes = 10L * 1024 * 1024;

    public string FilePath => _path;

    /// <summary>Events not written because their client was past the failure limit, by reason.</summary>
    public IReadOnlyDictionary<string, long> Dropped =>
        _dropped.IsEmpty ? NoneDropped : new SortedDictionary<string, long>(_dropped, StringComparer.Ordinal);

    private static readonly IReadOnlyDictionary<string, long> NoneDropped = new SortedDictionary<string, long>(StringComparer.Ordinal);

    public void CountDropped(string reason) => _dropped.AddOrUpdate(Bounded(reason, 64), 1, (_, n) => n + 1);

    public void Record(AuthAuditEvent ev)
    {
        ev = ev with
        {
            Event = Bounded(ev.Event, 64),
            Method = Bounded(ev.Method, 16),
            Path = Bounded(ev.Path, MaxFieldChars),
            Reason = Bounded(ev.Reason, 64),
            Origin = ev.Origin is null ? null : Bounded(ev.Origin, MaxFieldChars),
            Host = ev.Host is null ? null : Bounded(ev.Host, MaxFieldChars),
            RemoteAddr = ev.RemoteAddr is null ? null : Bounded(ev.RemoteAddr, 64),
        };
        byte[] line = JsonSerializer.SerializeToUtf8Bytes(ev, AuthAuditJsonContext.Default.AuthAuditEvent);
        if (line.Length > MaxEntryBytes)
        {
            // Escaping can grow a field up to six-fold; shorten the free-text fields further.
            line = JsonSerializer.SerializeToUtf8Bytes(
                ev with { Path = Bounded(ev.Path, 32), Origin = ev.Origin is null ? null : Bounded(ev.Origin, 32), Host = ev.Host is null ? null : Bounded(ev.Host, 32) },
                AuthAuditJsonContext.Default.AuthAuditEvent);
        }

        lock (_gate)
        {
            try
            {
                _stream ??= Open(_path);
                if (_stream.Length + line.Length + 1 > _rotateBytes)
                {
                    Rotate();
                }

                _stream.Write(line);
                _stream.WriteByte((byte)'\n');
                _stream.Flush();
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ObjectDisposedException)
            {
                _stream?.Dispose();
                _stream = null;
                // A full disk must not turn every rejected request into a 500: the rejection
                // itself still happens, only its log line is lost (and counted); the file is
                // reopened on the next event.
                CountDropped("log_write_failed");
            }
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _stream?.Dispose();
        }
    }

    private void Rotate()
    {
        _stream!.Dispose();
        _stream = null;
        for (int i = KeptFiles - 1; i >= 1; i--)
        {
            string from = i == 1 ? _path : $"{_path}.{i - 1}";
            if (File.Exists(from))
            {
                File.Move(from, $"{_path}.{i}", overwrite: true);
            }
        }

        _stream = Open(_path);
    }

    private static FileStream Open(string path)
    {
        var stream = new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.Append,
            Access = FileAccess.Write,
            Share = FileShare.Read,
            UnixCreateMode = AtomicFile.PrivateFileMode,
        });
        File.SetUnixFileMode(path, AtomicFile.PrivateFileMode);
        return stream;
    }

    /// <summary>At most <paramref name="max"/> characters, control characters replaced (one line per event).</summary>
    private static string Bounded(string s, int max)
    {
        int n = Math.Min(s.Length, max);
        bool clean = n == s.Length;
        for (int i = 0; i < n && clean; i++)
        {
            clean = !char.IsControl(s[i]);
        }

        if (clean)
        {
            return s;
        }

        return string.Create(n, s, static (span, src) =>
        {
            for (int i = 0; i < span.Length; i++)
            {
                span[i] = char.IsControl(src[i]) ? '?' : src[i];
            }
        });
    }
}
