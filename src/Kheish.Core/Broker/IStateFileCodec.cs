using Kheish.Core.Errors;

namespace Kheish.Core.Broker;

/// <summary>
/// How a state file's JSON becomes bytes on disk. The plain codec writes it as is (0600);
/// the host plugs in the AES-GCM envelope when a master key is configured, binding
/// <paramref name="purpose"/> as associated data so one file cannot stand in for another.
/// </summary>
internal interface IStateFileCodec
{
    /// <summary>True when files are written in clear (reported by <c>/v1/status</c>).</summary>
    bool IsPlain { get; }

    byte[] Encode(byte[] json, string purpose);

    Result<byte[]> Decode(byte[] file, string purpose);
}

/// <summary>The identity codec: the file is the JSON.</summary>
internal sealed class PlainStateFileCodec : IStateFileCodec
{
    public static PlainStateFileCodec Instance { get; } = new();

    public bool IsPlain => true;

    public byte[] Encode(byte[] json, string purpose) => json;

    /// <summary>
    /// An encrypted file met without a master key is not damage: say which key is missing
    /// rather than let the reader call it unusable (and suggest deleting revocations).
    /// </summary>
    public Result<byte[]> Decode(byte[] file, string purpose) =>
        Crypto.EnvelopeCodec.IsEnvelope(file)
            ? KheishError.Misconfigured(
                "master_key_required",
                $"the state file {purpose} is encrypted and no master key is set: set {Crypto.MasterKey.ValueVariable} " +
                $"(or {Crypto.MasterKey.FileVariable}) to the key that wrote it. Do not delete the file: it holds revocations.")
            : file;
}
