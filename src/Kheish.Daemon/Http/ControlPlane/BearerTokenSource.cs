using System.Security.Cryptography;
using System.Text;
using Kheish.Core.Access;
using Kheish.Core.Errors;
using Kheish.Core.Storage;

namespace Kheish.Daemon.Http.ControlPlane;

/// <summary>
/// One control-plane token, given inline (flag or env) or as a file. Only its SHA-256 digest
/// is kept in memory. A file is re-read whenever its size or modification time changes, so
/// rotating the token takes effect on the next request without a restart.
/// </summary>
internal sealed class BearerTokenSource
{
    private readonly string? _file;
    private readonly byte[]? _utf8File;
    private readonly object _gate = new();
    private byte[]? _digest;
    private volatile StampBox _stampBox = new(FileStamp.Absent);
    private volatile Checked? _checked;
    private FileChangeWatch? _watch;

    private BearerTokenSource(string name, string? file, byte[]? digest)
    {
        Name = name;
        _file = file;
        _utf8File = file is null ? null : FileStamp.Utf8Path(file);
        _digest = digest;
    }

    /// <summary>Shorter tokens are refused: with 32+ random characters guessing is moot, so the failure limiter never has to lock anyone out.</summary>
    public const int MinimumLength = 32;

    public string Name { get; }

    public string? FilePath => _file;

    private KheishError? _inlineWeakness;

    /// <summary>The refusal for an inline token shorter than <see cref="MinimumLength"/>, else null.</summary>
    public KheishError? WeakInline() => _inlineWeakness;

    /// <summary>
    /// Builds the source from the flag value, flag file, env value and env file (flags win
    /// over env). Inline and file for the same token = error. Returns null when none is set.
    /// </summary>
    public static Result<BearerTokenSource?> Create(
        string name, string flagName, string? inline, string? file, string envName, Func<string, string?> getEnv)
    {
        bool fromFlag = inline is not null || file is not null;
        if (!TokenInputs.Resolve($"the {name} token", flagName, inline, file, envName, getEnv).TryGetValue(out var input, out KheishError? conflict))
        {
            return conflict;
        }

        (inline, file) = input;

        if (inline is not null)
        {
            string trimmed = inline.Trim();
            if (trimmed.Length == 0)
            {
                return KheishError.BadRequest("empty_token", $"the {name} token is empty");
            }

            // Judged by the caller once the sources are known to fit together (see WeakInline).
            return new BearerTokenSource(name, null, Digest(trimmed)) { _inlineWeakness = Weak(name, trimmed.Length, fromFlag ? flagName : envName) };
        }

        if (file is not null)
        {
            var source = new BearerTokenSource(name, Path.GetFullPath(file), null);
            if (source.ReadFile() is { } error)
            {
                return error;
            }

            return source;
        }

        return Result<BearerTokenSource?>.Ok(null);
    }

    /// <summary>From now on the token file is stat-ed only when <paramref name="watch"/> saw a change since the last check.</summary>
    public void WatchWith(FileChangeWatch watch)
    {
        if (_file is not null)
        {
            watch.Track(_file);
            _watch = watch;
        }
    }

    /// <summary>The digest in force now; null when a token file became unreadable or empty (fail closed).</summary>
    public byte[]? CurrentDigest() => CurrentDigest(System.Diagnostics.Stopwatch.GetTimestamp());

    /// <summary>The digest in force for a request served since <paramref name="notBefore"/> (see <see cref="FileChangeWatch.Generation(long)"/>).</summary>
    public byte[]? CurrentDigest(long notBefore)
    {
        if (_file is null)
        {
            return _digest;
        }

        if (_watch is not { } watch)
        {
            return DigestByStamp();
        }

        // The generation is taken before the stamp check, so a change racing with it moves the
        // generation past the one stored here and the next request checks again.
        long generation = watch.Generation(notBefore);
        if (_checked is { } done && done.Generation == generation)
        {
            return done.Digest;
        }

        byte[]? digest = DigestByStamp();
        _checked = new Checked(generation, digest);
        return digest;
    }

    private byte[]? DigestByStamp()
    {
        // One statx per request on a pre-encoded path, no lock on the hot path: the file is
        // re-read only when its stamp (inode, size, mtime, ctime) changed, so rotation (also
        // by symlink swap, as orchestrators do) is seen by the very next request.
        FileStamp stamp = FileStamp.Of(_utf8File!, _file!);
        if (stamp == _stampBox.Value)
        {
            return Volatile.Read(ref _digest);
        }

        lock (_gate)
        {
            if (FileStamp.Of(_utf8File!, _file!) != _stampBox.Value)
            {
                _ = ReadFile();
            }

            return _digest;
        }
    }

    public static byte[] Digest(string token) => SHA256.HashData(Encoding.UTF8.GetBytes(token));

    private KheishError? ReadFile()
    {
        try
        {
            FileStamp stamp = FileStamp.Of(_utf8File!, _file!);
            if (stamp.IsWorldWritable)
            {
                // Anyone could write their own token into it: fail closed until it is fixed.
                _digest = null;
                _stampBox = new StampBox(stamp);
                return KheishError.BadRequest("token_file_world_writable",
                    $"the {Name} token file {_file} is writable by any user (mode {Convert.ToString(stamp.Permissions, 8)}); run 'chmod 600 {_file}'");
            }

            string value = File.ReadAllText(_file!).Trim();
            _stampBox = new StampBox(stamp);
            if (value.Length == 0)
            {
                _digest = null;
                return KheishError.BadRequest("empty_token", $"the {Name} token file {_file} is empty");
            }

            if (Weak(Name, value.Length, $"the file {_file}") is { } weak)
            {
                // Rotated to a weak token at runtime: fail closed until it is fixed.
                _digest = null;
                return weak;
            }

            _digest = Digest(value);
            return null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _digest = null;
            _stampBox = new StampBox(FileStamp.Absent with { Kind = FileStampKind.Unusable });
            return KheishError.BadRequest("token_file_unreadable", $"cannot read the {Name} token file {_file}: {IoReason.Of(ex)}");
        }
    }

    private static KheishError? Weak(string name, int length, string where) => length >= MinimumLength
        ? null
        : KheishError.BadRequest("weak_token",
            $"the {name} token from {where} is {length} characters; use at least {MinimumLength} random characters (e.g. `openssl rand -hex 32`)");

    /// <summary>A tuple published atomically (a struct field could tear between threads).</summary>
    private sealed record StampBox(FileStamp Value);

    /// <summary>The digest as checked at a watch generation, published as one reference.</summary>
    private sealed record Checked(long Generation, byte[]? Digest);
}
