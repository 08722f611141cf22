using Kheish.Core.Broker;
using Kheish.Core.Errors;
using Kheish.Core.Storage;

namespace Kheish.Core.Crypto;

/// <summary>
/// Broker and session state under the master key: each file (and each journal line) is an
/// AES-256-GCM envelope bound to the file's path relative to the state root, the same purpose
/// <c>secrets rekey</c> uses. A plaintext file written before a key was configured is still
/// read, and is encrypted on its next save.
/// </summary>
internal sealed class EnvelopeStateFileCodec(MasterKey key, StateRoot root) : IStateFileCodec
{
    public bool IsPlain => false;

    public byte[] Encode(byte[] json, string purpose) => EnvelopeCodec.Seal(json, key, RelativePath(purpose));

    public Result<byte[]> Decode(byte[] file, string purpose) =>
        EnvelopeCodec.IsEnvelope(file) ? EnvelopeCodec.Open(file, key, RelativePath(purpose), RelativePath(purpose)) : file;

    /// <summary>The codec for a state root: encrypted with a master key, else plain 0600 JSON.</summary>
    public static IStateFileCodec For(MasterKey? key, StateRoot root) =>
        key is null ? PlainStateFileCodec.Instance : new EnvelopeStateFileCodec(key, root);

    /// <summary>The file a purpose is stored in, relative to the state root (what rekey binds to).</summary>
    private string RelativePath(string purpose) => purpose switch
    {
        BrokerState.Purpose => Relative(root.BrokerStateFile),
        BrokerJournalRecord.Purpose => Relative(BrokerStateStore.JournalPathFor(root.BrokerStateFile)),
        SessionState.Purpose => Relative(SessionRegistry.PathFor(root)),
        _ => purpose,
    };

    private string Relative(string path) => Path.GetRelativePath(root.FullPath, path);
}
