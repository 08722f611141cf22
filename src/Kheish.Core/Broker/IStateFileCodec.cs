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

    public Result<byte[]> Decode(byte[] file, string purpose) => file;
}
