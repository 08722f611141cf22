using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using Kheish.Core.Crypto;
using Kheish.Core.Storage;

namespace Kheish.Core.Transparency;

/// <summary>
/// C2SP tlog-cosignature v1 (Ed25519): a note signature line over
/// <c>"cosignature/v1\ntime &lt;t&gt;\n" || checkpoint text</c>, the blob being key ID (SHA-256 of
/// name || 0x0A || 0x04 || key, first 4 bytes) || u64 big-endian timestamp || Ed25519 signature.
/// </summary>
internal static class Cosignature
{
    public static byte[] Message(string checkpointText, long timestamp) =>
        Encoding.UTF8.GetBytes("cosignature/v1\ntime " + timestamp.ToString(CultureInfo.InvariantCulture) + "\n" + checkpointText);

    public static uint KeyId(string name, ReadOnlySpan<byte> publicKey) => SignedNote.KeyId(name, SignedNote.CosignatureType, publicKey);

    public static string Line(string checkpointText, string name, Ed25519PrivateKey key, long timestamp)
    {
        byte[] blob = new byte[4 + 8 + Ed25519.SignatureSize];
        BinaryPrimitives.WriteUInt32BigEndian(blob, KeyId(name, key.PublicKey));
        BinaryPrimitives.WriteUInt64BigEndian(blob.AsSpan(4), (ulong)timestamp);
        key.Sign(Message(checkpointText, timestamp), blob.AsSpan(12));
        return $"\u2014 {name} {Convert.ToBase64String(blob)}\n";
    }

    /// <summary>The timestamp of the cosignature by (<paramref name="name"/>, <paramref name="publicKey"/>) in <paramref name="signatures"/> that verifies over <paramref name="checkpointText"/>; null when there is none.</summary>
    public static long? Verify(string checkpointText, IEnumerable<NoteSignature> signatures, string name, byte[] publicKey)
    {
        uint keyId = KeyId(name, publicKey);
        foreach (NoteSignature sig in signatures)
        {
            if (sig.KeyId != keyId || !string.Equals(sig.Name, name, StringComparison.Ordinal) || sig.Signature.Length != 8 + Ed25519.SignatureSize)
            {
                continue;
            }

            ulong t = BinaryPrimitives.ReadUInt64BigEndian(sig.Signature);
            if (t > long.MaxValue)
            {
                continue;
            }

            if (Ed25519.Verify(publicKey, Message(checkpointText, (long)t), sig.Signature.AsSpan(8)))
            {
                return (long)t;
            }
        }

        return null;
    }

    /// <summary>
    /// The first cosignature in <paramref name="signatures"/> by <paramref name="publicKey"/> over
    /// <paramref name="checkpointText"/>: under <paramref name="name"/>, or (null) under any name whose
    /// key ID the line's name and this key give. The key is pinned, the name is only a label.
    /// </summary>
    public static NoteSignature? FindValid(string checkpointText, IEnumerable<NoteSignature> signatures, string? name, byte[] publicKey)
    {
        foreach (NoteSignature sig in signatures)
        {
            if ((name is null || string.Equals(sig.Name, name, StringComparison.Ordinal)) && Verify(checkpointText, [sig], sig.Name, publicKey) is not null)
            {
                return sig;
            }
        }

        return null;
    }

    /// <summary>Whether a line by this key is there at all (its key ID matches), to tell "missing" from "does not verify".</summary>
    public static bool HasLineFor(IEnumerable<NoteSignature> signatures, string? name, byte[] publicKey) =>
        signatures.Any(sig => (name is null || string.Equals(sig.Name, name, StringComparison.Ordinal)) && sig.KeyId == KeyId(sig.Name, publicKey));

    /// <summary>The note signature line of <paramref name="sig"/>: <c>— name base64(key ID || signature)</c>.</summary>
    public static string LineOf(NoteSignature sig)
    {
        byte[] blob = new byte[4 + sig.Signature.Length];
        BinaryPrimitives.WriteUInt32BigEndian(blob, sig.KeyId);
        sig.Signature.CopyTo(blob, 4);
        return $"\u2014 {sig.Name} {Convert.ToBase64String(blob)}\n";
    }

    /// <summary>The default witness key name: <c>witness/&lt;first 8 hex of the public key&gt;</c>.</summary>
    public static string DefaultName(byte[] publicKey) => "witness/" + Convert.ToHexStringLower(publicKey)[..8];
}

/// <summary>The answer to an add-checkpoint request: HTTP status, content type and body.</summary>
internal sealed record WitnessAnswer(int Status, string ContentType, string Body);

/// <summary>
/// A C2SP tlog-witness: for each configured log (origin → Ed25519 key) it keeps the last checkpoint it
/// cosigned (one file per origin under <c>witness/logs/</c>, replaced atomically before it answers) and
/// cosigns a new one only when a consistency proof from that size verifies. Requests are serialized, so
/// the check and the update are atomic.
/// </summary>
internal sealed class Witness : IDisposable
{
    public const int MaxProofLines = 63;
    private const string TextType = "text/plain; charset=utf-8";
    private const string SizeType = "text/x.tlog.size";

    private readonly Ed25519PrivateKey _key;
    private readonly IReadOnlyDictionary<string, byte[]> _logs;
    private readonly string _logsDirectory;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();

    private Witness(Ed25519PrivateKey key, string name, IReadOnlyDictionary<string, byte[]> logs, string logsDirectory, TimeProvider time)
    {
        _key = key;
        Name = name;
        _logs = logs;
        _logsDirectory = logsDirectory;
        _time = time;
    }

    public string Name { get; }

    public byte[] PublicKey => _key.PublicKey;

    public static string KeyFile(string stateRoot) => Path.Combine(stateRoot, "witness", "witness.key");

    /// <summary>Loads the witness key from <paramref name="stateRoot"/>, creating it (0600) on first use.</summary>
    public static Ed25519PrivateKey LoadOrCreateKey(string stateRoot)
    {
        string file = KeyFile(stateRoot);
        byte[]? seed = AtomicFile.ReadOrNull(file);
        if (seed is null)
        {
            seed = new byte[Ed25519.SeedSize];
            System.Security.Cryptography.RandomNumberGenerator.Fill(seed);
            AtomicFile.Write(file, seed);
        }

        try
        {
            if (seed.Length != Ed25519.SeedSize)
            {
                throw new InvalidDataException($"the witness key file {file} is not a {Ed25519.SeedSize}-byte Ed25519 seed");
            }

            return Ed25519PrivateKey.FromSeed(seed);
        }
        finally
        {
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(seed);
        }
    }

    public static Witness Open(string stateRoot, string? name, IReadOnlyDictionary<string, byte[]> logs, TimeProvider? time = null)
    {
        Ed25519PrivateKey key = LoadOrCreateKey(stateRoot);
        return new Witness(key, name ?? Cosignature.DefaultName(key.PublicKey), logs, Path.Combine(stateRoot, "witness", "logs"), time ?? TimeProvider.System);
    }

    /// <summary>The verifier key (vkey, type 0x04) clients pin for this witness.</summary>
    public string VerifierKey => $"{Name}+{Cosignature.KeyId(Name, PublicKey):x8}+{Convert.ToBase64String([SignedNote.CosignatureType, .. PublicKey])}";

    /// <summary>The size and root of the last checkpoint cosigned for <paramref name="origin"/>, or null.</summary>
    public Checkpoint? Latest(string origin)
    {
        byte[]? bytes = AtomicFile.ReadOrNull(StateFile(origin));
        return bytes is null ? null : Checkpoint.TryParse(Encoding.UTF8.GetString(bytes), out _);
    }

    public WitnessAnswer AddCheckpoint(ReadOnlySpan<byte> body)
    {
        string s;
        try
        {
            s = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(body);
        }
        catch (DecoderFallbackException)
        {
            return Bad(400, "the request body is not valid UTF-8");
        }

        int blank = s.IndexOf("\n\n", StringComparison.Ordinal);
        if (blank < 0)
        {
            return Bad(400, "the request body has no blank line between the old size and proof lines and the checkpoint");
        }

        string[] head = s[..blank].Split('\n');
        string sizeText = head[0].StartsWith("old ", StringComparison.Ordinal) ? head[0][4..] : "";
        if (sizeText.Length == 0 || sizeText.Length > 19 || !sizeText.All(char.IsAsciiDigit) || (sizeText.Length > 1 && sizeText[0] == '0')
            || !long.TryParse(sizeText, NumberStyles.None, CultureInfo.InvariantCulture, out long oldSize))
        {
            return Bad(400, "the first line is not 'old <size>' (decimal, no leading zeroes)");
        }

        if (head.Length - 1 > MaxProofLines)
        {
            return Bad(400, $"more than {MaxProofLines} consistency proof lines");
        }

        var proof = new List<byte[]>(head.Length - 1);
        foreach (string line in head.Skip(1))
        {
            byte[] hash;
            try
            {
                hash = Convert.FromBase64String(line);
            }
            catch (FormatException)
            {
                return Bad(400, "a consistency proof line is not base64");
            }

            if (hash.Length != MerkleHash.Size)
            {
                return Bad(400, "a consistency proof line is not a 32-byte hash");
            }

            proof.Add(hash);
        }

        byte[] note = Encoding.UTF8.GetBytes(s[(blank + 2)..]);
        if (SignedNote.TryParse(note, out string? noteError) is not { } parsed)
        {
            return Bad(400, $"the checkpoint is not a signed note: {noteError}");
        }

        int firstNewline = parsed.Text.IndexOf('\n', StringComparison.Ordinal);
        string origin = parsed.Text[..firstNewline];
        if (!_logs.TryGetValue(origin, out byte[]? logKey))
        {
            return Bad(404, $"unknown log origin '{origin}'");
        }

        Checkpoint? checkpoint = LogState.OpenCheckpoint(note, logKey, origin, out string? openError);
        if (checkpoint is null)
        {
            return openError is not null && openError.StartsWith("the checkpoint", StringComparison.Ordinal)
                ? Bad(400, openError)
                : Bad(403, $"the checkpoint is not signed by the configured key of '{origin}': {openError}");
        }

        if (oldSize > checkpoint.Size)
        {
            return Bad(400, $"the old size {oldSize} is larger than the checkpoint size {checkpoint.Size}");
        }

        lock (_gate)
        {
            Checkpoint? latest = Latest(origin);
            long latestSize = latest?.Size ?? 0;
            if (oldSize != latestSize)
            {
                return new WitnessAnswer(409, SizeType, latestSize.ToString(CultureInfo.InvariantCulture) + "\n");
            }

            if (latest is null ? proof.Count != 0 : !MerkleProof.VerifyConsistency(latest.Size, checkpoint.Size, proof, latest.RootHash, checkpoint.RootHash))
            {
                if (latest is not null && latest.Size == checkpoint.Size)
                {
                    return Bad(409, $"fork: the checkpoint at size {checkpoint.Size} has root {checkpoint.RootHex}, the witness cosigned root {latest.RootHex} at that size");
                }

                return Bad(422, $"the consistency proof from size {oldSize} to {checkpoint.Size} does not verify (a fork or a rollback of the log)");
            }

            AtomicFile.WriteText(StateFile(origin), checkpoint.Text);
            long now = _time.GetUtcNow().ToUnixTimeSeconds();
            return new WitnessAnswer(200, TextType, Cosignature.Line(parsed.Text, Name, _key, now));
        }
    }

    public void Dispose() => _key.Dispose();

    private string StateFile(string origin) => Path.Combine(_logsDirectory, Convert.ToHexStringLower(Encoding.UTF8.GetBytes(origin)) + ".checkpoint");

    private static WitnessAnswer Bad(int status, string why) => new(status, TextType, why + "\n");

    /// <summary>The add-checkpoint request body: <c>old N</c>, proof lines, a blank line, the signed checkpoint.</summary>
    public static string Request(long oldSize, IEnumerable<byte[]> proof, string checkpointNote)
    {
        var sb = new StringBuilder();
        sb.Append("old ").Append(oldSize.ToString(CultureInfo.InvariantCulture)).Append('\n');
        foreach (byte[] hash in proof)
        {
            sb.Append(Convert.ToBase64String(hash)).Append('\n');
        }

        return sb.Append('\n').Append(checkpointNote).ToString();
    }
}
