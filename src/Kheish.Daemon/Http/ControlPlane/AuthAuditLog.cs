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
    string? RequiredAccess = null);

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(AuthAuditEvent))]
internal sealed partial class AuthAuditJsonContext : JsonSerializerContext;

/// <summary>
/// <c>control-plane-auth/audit.jsonl</c> (0600): authentication failures, rate limiting and
/// CORS rejections. Never the presented token, never a header value other than Origin.
/// </summary>
internal sealed class AuthAuditLog : IDisposable
{
    private readonly object _gate = new();
    private readonly FileStream _stream;

    public AuthAuditLog(StateRoot root)
    {
        string path = root.ControlPlaneAuditFile;
        PrivateDirectory.Ensure(Path.GetDirectoryName(path)!);
        _stream = new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.Append,
            Access = FileAccess.Write,
            Share = FileShare.Read,
            UnixCreateMode = AtomicFile.PrivateFileMode,
        });
        File.SetUnixFileMode(path, AtomicFile.PrivateFileMode);
    }

    public void Record(AuthAuditEvent ev)
    {
        byte[] line = JsonSerializer.SerializeToUtf8Bytes(ev, AuthAuditJsonContext.Default.AuthAuditEvent);
        lock (_gate)
        {
            _stream.Write(line);
            _stream.WriteByte((byte)'\n');
            _stream.Flush();
        }
    }

    public void Dispose() => _stream.Dispose();
}
